"""The main menu is drawn once per kind of visitor and kept (views/menu.py): it must still show each
user their own entries, the current page, the inbox badge's count and the chosen language."""
import re

from test_web_queries import login


def _menu(html):
    return html[html.index('<ul class="navbar-nav me-auto">'):html.index("</ul>")]


def _active(menu):
    return re.findall(r'class="nav-link active"[^>]*href="([^"]+)"', menu)


def test_each_teacher_gets_their_own_profile_link(client, district):
    for user in (district.teacher, district.other_teacher):
        login(client, user.login)
        menu = _menu(client.get("/routes").get_data(as_text=True))
        assert f'href="/teachers/{user.id}"' in menu, user.login
        assert _active(menu) == ["/routes"]


def test_the_current_page_and_the_role_decide_the_entries(client, district):
    login(client, "curator")
    queue_menu = _menu(client.get("/queue").get_data(as_text=True))
    routes_menu = _menu(client.get("/routes").get_data(as_text=True))
    assert _active(queue_menu) == ["/queue"] and _active(routes_menu) == ["/routes"]
    assert "/admin/users" not in routes_menu
    login(client, "admin")
    admin_menu = _menu(client.get("/routes").get_data(as_text=True))
    assert "/admin/users" in admin_menu and "/queue" not in admin_menu


def test_the_inbox_badge_follows_the_count(client, district):
    route = district.route(state="drafted")
    login(client, "curator")
    before = _menu(client.get("/routes").get_data(as_text=True))
    assert 'rounded-pill text-bg-warning' not in before
    from workflow import service
    service.apply_transition(route.id, "request_review", district.teacher)
    after = _menu(client.get("/routes").get_data(as_text=True))
    assert re.search(r'rounded-pill text-bg-warning"[^>]*>1</span>', after)


def test_the_menu_follows_the_language(client, district):
    login(client, "curator")
    assert "Очередь куратора" in _menu(client.get("/routes").get_data(as_text=True))
    client.post("/language", data={"locale": "en", "next": "/routes"})
    english = _menu(client.get("/routes").get_data(as_text=True))
    assert "Очередь куратора" not in english and 'href="/queue"' in english
