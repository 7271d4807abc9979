"""The route pages speak English to a user who chose English: no Russian label is left, only user data."""
import re
from datetime import date, timedelta

from models import Activity, db
from workflow import service

CYRILLIC = re.compile(r"[А-Яа-яЁё]")


def _english(*users):
    for user in users:
        user.locale = "en"
    db.session.commit()


def _user_data(district):
    """Every Russian text the test district's users typed or were given: names, schools, route fields."""
    texts = {district.municipality.name, district.municipality.department_name, district.school.name,
             district.other_school.name}
    for user in (district.admin, district.head, district.school_head, district.other_school_head,
                 district.curator, district.other_curator, district.teacher, district.other_teacher):
        texts.add(user.full_name)
    for activity in db.session.query(Activity):
        texts.update({activity.deficit, activity.tasks, activity.forms, activity.result_form,
                      activity.product, activity.reason})
    texts.update({"Затруднения в формировании функциональной грамотности", "Нужен ещё один вебинар",
                  "Вебинар по смысловому чтению", "Не успела: болезнь"})
    return sorted((t for t in texts if t), key=len, reverse=True)


def _russian_left(html, data):
    """Lines of the page that still hold Russian once user data and the «Русский» switch are removed."""
    html = re.sub(r"<[^>]*\blang=\"ru\"[^>]*>[^<]*<", "<", html)
    for text in data:
        html = html.replace(text, "")
    return [line.strip() for line in html.splitlines() if CYRILLIC.search(line)]


def _route_with_everything(district):
    """A route in progress with a done, a not-done and an overdue activity and a pending correction."""
    teacher = district.teacher
    route = district.route(state="in_progress", activities=3)
    first, second, third = route.activities
    service.record_activity_result(route.id, first.id, teacher, status="done", product="Конспект урока")
    service.record_activity_result(route.id, second.id, teacher, status="not_done", reason="Не успела: болезнь")
    db.session.get(Activity, third.id).deadline = date.today() - timedelta(days=3)
    db.session.commit()
    service.request_correction(route.id, teacher, reason="Нужен ещё один вебинар", action="add",
                               fields={"stage": "implementation", "direction": "methodical",
                                       "deficit": "Вебинар по смысловому чтению"})
    return route


def test_route_page_is_english_for_an_english_user(client, auth, district):
    route = _route_with_everything(district)
    _english(district.teacher, district.curator)
    data = _user_data(district)
    for login in ("teacher", "curator"):
        auth.logout()
        auth.login(login)
        response = client.get(f"/routes/{route.id}")
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        assert '<html lang="en">' in html and f"Route No. {route.id}" in html
        assert "Road map" in html and "Self-reflection" in html and "Route history" in html
        left = _russian_left(html, data)
        assert not left, f"Russian UI text on the route page for {login}:\n" + "\n".join(left)


def test_curator_queue_and_lists_are_english_for_an_english_user(client, auth, district):
    district.route(state="under_review")
    _route_with_everything(district)
    _english(district.curator, district.teacher)
    data = _user_data(district)
    auth.login("curator")
    html = client.get("/queue").get_data(as_text=True)
    assert "Curator queue" in html and "Waiting for your decision" in html
    assert re.search(r"\b0 days\b", html)
    left = _russian_left(html, data)
    assert not left, "Russian UI text in the curator queue:\n" + "\n".join(left)
    auth.logout()
    auth.login("teacher")
    html = client.get("/routes").get_data(as_text=True)
    assert "My routes" in html and re.search(r"in \d+ routes?\b", html)
    left = _russian_left(html, data)
    assert not left, "Russian UI text in the teacher's route list:\n" + "\n".join(left)


def test_plurals_follow_the_language(app):
    from flask_babel import force_locale

    from views.web import days_ru, filesize_ru
    with app.test_request_context():
        assert [days_ru(n) for n in (1, 3, 5, 21)] == ["1 день", "3 дня", "5 дней", "21 день"]
        with force_locale("en"):
            assert [days_ru(n) for n in (1, 3, 21)] == ["1 day", "3 days", "21 days"]
            assert [filesize_ru(n) for n in (1, 5, 2048)] == ["1 byte", "5 bytes", "2.0 KB"]
        # Kept per catalog: each language still gets its own words.
        assert [days_ru(n) for n in (1, 3, 21)] == ["1 день", "3 дня", "21 день"]
