"""The browser sees a working, Russian-first interface with a language switch."""
from tests.conftest import PASSWORD
from tests.e2e.conftest import sign_in


def test_sign_in_and_switch_language(district, new_page, screens):
    page = new_page()
    page.goto("/login")
    assert page.locator("html").get_attribute("lang") == "ru"
    screens(page, "login")
    sign_in(page, "teacher", PASSWORD)
    assert "/login" not in page.url
    screens(page, "signed-in-ru")
    page.locator("#language-form button[value=en]").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"
    screens(page, "signed-in-en")
    page.locator("#language-form button[value=ru]").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "ru"
