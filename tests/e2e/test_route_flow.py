"""A route's whole life in a real browser: draft, approval from the inbox, work, reflection, closing, monitoring."""
import re
from datetime import date, timedelta

import pytest

from models import db
from tests.conftest import PASSWORD
from tests.e2e.conftest import sign_in
from workflow import diagnostics

RESULTS = ("ФИО;Школа;Диагностика;Дата;Компетенция;Балл;Дефицит\r\n"
           "Пользователь teacher;СОШ № 1;ФИОКО-2026;{held};Методические компетенции;2;да\r\n"
           "Пользователь teacher;СОШ № 1;ФИОКО-2026;{held};Предметные компетенции;4;нет\r\n")


def _click_transition(page, trigger):
    page.locator(f"button[data-trigger={trigger}]").click()
    page.wait_for_load_state()


@pytest.fixture
def diagnosed(district):
    """The teacher took a diagnostic a month ago and has one deficit (before the server starts)."""
    held = (date.today() - timedelta(days=30)).strftime("%d.%m.%Y")
    diagnostics.import_results(RESULTS.format(held=held).encode("cp1251"), actor=district.admin, provider="ФИОКО")
    db.session.commit()
    return district


def test_route_from_draft_to_the_monitoring_chart(diagnosed, new_page, screens):
    today = date.today()

    # The teacher drafts the route from the diagnostic, fills the period and the request, adds an activity
    # and sends the route for review.
    teacher = new_page()
    sign_in(teacher, "teacher", PASSWORD)
    teacher.goto("/")
    teacher.get_by_role("link", name="Мой профиль").click()
    screens(teacher, "teacher-profile-deficits")
    teacher.get_by_role("button", name="Создать маршрут по результатам диагностики").click()
    teacher.wait_for_url(re.compile(r"/routes/\d+(#[\w-]+)?$"))
    route_url = re.search(r"/routes/\d+", teacher.url).group(0)
    teacher.locator(f"a[href$='{route_url}/edit']").first.click()
    teacher.fill("input[name=period_start]", today.isoformat())
    teacher.fill("input[name=period_end]", (today + timedelta(days=200)).isoformat())
    teacher.fill("textarea[name=request]", "Формирование функциональной грамотности обучающихся")
    screens(teacher, "teacher-drafts")
    teacher.locator("form:has(textarea[name=request])").locator("[type=submit]").click()
    teacher.wait_for_url(re.compile(route_url + r"(#[\w-]+)?$"))
    teacher.locator(f"a[href$='{route_url}/activities/new']").first.click()
    teacher.fill("textarea[name=deficit]", "Дефицит в оценке функциональной грамотности")
    teacher.fill("textarea[name=tasks]", "Освоить инструменты оценки")
    teacher.fill("textarea[name=forms]", "Курсы повышения квалификации")
    teacher.fill("input[name=deadline]", (today + timedelta(days=60)).isoformat())
    teacher.fill("textarea[name=result_form]", "Удостоверение о повышении квалификации")
    teacher.locator("form:has(textarea[name=deficit])").locator("[type=submit]").click()
    teacher.wait_for_url(re.compile(route_url + r"(#[\w-]+)?$"))
    _click_transition(teacher, "request_review")
    screens(teacher, "teacher-sent-for-review")
    assert teacher.locator("button[data-trigger=request_review]").count() == 0

    # The curator finds it in the inbox and approves it there (bulk form, one route ticked).
    curator = new_page()
    sign_in(curator, "curator", PASSWORD)
    curator.goto("/inbox")
    screens(curator, "curator-inbox")
    route_id = route_url.rsplit("/", 1)[1]
    curator.locator(f"input[name=route_ids][value^='{route_id}:']").check()
    curator.select_option("#bulk-action", "approve")
    curator.locator("#bulk-form").locator("[type=submit]").click()
    curator.wait_for_load_state()
    screens(curator, "curator-approved")
    curator.goto(route_url)
    assert curator.locator("[data-state=curator_approved], .badge").filter(has_text="Утверждён").count() > 0

    # The teacher starts the route, records the product of the activity, writes and sends the reflection.
    teacher.goto(route_url)
    _click_transition(teacher, "start")
    result_links = teacher.locator(f"a[href*='{route_url}/activities/'][href$='/result']")
    hrefs = [result_links.nth(i).get_attribute("href") for i in range(result_links.count())]
    assert len(hrefs) == 2  # one activity from the diagnostic's deficit, one added by hand
    for href in hrefs:
        teacher.goto(href)
        teacher.check("input[name=status][value=done]")
        teacher.fill("textarea[name=product]", "Разработан комплект заданий по функциональной грамотности")
        teacher.locator("form:has(textarea[name=product])").locator("[type=submit]").click()
        teacher.wait_for_url(re.compile(route_url + r"(#[\w-]+)?$"))
    screens(teacher, "teacher-product")
    teacher.locator(f"a[href$='{route_url}/reflection']").first.click()
    teacher.fill("textarea[name=text]", "Освоил инструменты оценки, применяю их на уроках.")
    teacher.locator("button[name=submit_and_send]").click()
    teacher.wait_for_url(re.compile(route_url + r"(#[\w-]+)?$"))
    screens(teacher, "teacher-reflected")

    # The curator writes the recommendations and closes the route.
    curator.goto(route_url)
    curator.locator(f"a[href$='{route_url}/recommendations']").first.click()
    curator.fill("textarea[name=text]", "Продолжить работу в методическом объединении.")
    curator.locator("button[name=submit_and_send]").click()
    curator.wait_for_url(re.compile(route_url + r"(#[\w-]+)?$"))
    if curator.locator("button[data-trigger=close]").count():
        _click_transition(curator, "close")
    screens(curator, "curator-closed")

    # The department head sees the route in the dashboard's charts: F2 = 1 / 1 = 100 % for the school,
    # and one closed route.
    head = new_page()
    sign_in(head, "head", PASSWORD)
    head.get_by_role("link", name="Сводка").click()
    screens(head, "head-dashboard")
    f2_row = head.locator("#chart-f2-block svg g.bar").filter(has_text="СОШ № 1")
    assert f2_row.locator("[data-value]").first.get_attribute("data-value") == "100"
    states_row = head.locator("#chart-states-block svg g.bar").filter(has_text="СОШ № 1")
    assert states_row.locator("[data-series=closed]").get_attribute("data-value") == "1"
