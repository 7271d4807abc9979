"""The web UI through the test client: a whole route life cycle, forms, conflicts, files."""
import io
import re
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from models import Route, RouteEvent, StoredFile, db
from workflow import service


def fresh(route_id):
    """Reload a route from the database, past anything the session remembers."""
    db.session.expire_all()
    return db.session.get(Route, route_id)


def events(route_id):
    return [(e.event, e.from_state, e.to_state, e.comment) for e in fresh(route_id).events]


def act(client, auth, login, url, data=None, files=None, **kwargs):
    """Sign in as login and POST a form; return the response."""
    auth.logout()
    auth.login(login)
    payload = dict(data or {})
    if files:
        payload.update(files)
    return client.post(url, data=payload, **kwargs)


def transition(client, auth, login, route_id, trigger, comment=""):
    version = fresh(route_id).version
    return act(client, auth, login, f"/routes/{route_id}/transitions/{trigger}",
               {"version": version, "comment": comment})


def page(client, route_id):
    response = client.get(f"/routes/{route_id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_full_life_cycle_through_the_web(client, auth, district):
    today = date.today()
    # The teacher drafts a route.
    auth.login("teacher")
    assert client.get("/").headers["Location"].endswith("/routes")
    assert "Мои маршруты" in client.get("/routes").get_data(as_text=True)
    response = client.post("/routes/new")
    assert response.status_code == 302
    route_id = int(re.search(r"/routes/(\d+)/edit", response.headers["Location"]).group(1))
    assert fresh(route_id).state == "drafted" and fresh(route_id).teacher_id == district.teacher.id
    text = page(client, route_id)
    assert "В дорожной карте нет ни одного мероприятия" in text  # why review cannot be asked yet

    response = client.post(f"/routes/{route_id}/edit", data={
        "version": fresh(route_id).version, "period_start": today.isoformat(),
        "period_end": (today + timedelta(days=365)).isoformat(), "workplace": "МБОУ СОШ № 1",
        "education": "Высшее, КубГУ", "position": "Учитель математики", "subject": "Математика",
        "experience_years": "12", "qualification_category": "Первая", "attestation_date": "2021-03-15",
        "request": "Затруднения в формировании математической грамотности",
    })
    assert response.status_code == 302
    route = fresh(route_id)
    assert (route.subject, route.experience_years, route.attestation_date) == ("Математика", 12, date(2021, 3, 15))

    for stage, deficit in [("diagnostic_motivational", "Самодиагностика"), ("implementation", "Курсы ПК")]:
        response = client.post(f"/routes/{route_id}/activities/new", data={
            "version": fresh(route_id).version, "stage": stage, "direction": "methodical", "deficit": deficit,
            "tasks": "Освоить приёмы", "forms": "Курсы", "deadline": (today + timedelta(days=60)).isoformat(),
            "result_form": "Методическая разработка"})
        assert response.status_code == 302
    assert [a.deficit for a in fresh(route_id).activities] == ["Самодиагностика", "Курсы ПК"]
    text = page(client, route_id)
    assert "Диагностико-мотивационный этап" in text and "Реализационный этап" in text
    assert "15.03.2021" in text  # dates read дд.мм.гггг

    assert transition(client, auth, "teacher", route_id, "request_review").status_code == 302
    assert fresh(route_id).review_requested_at is not None
    assert events(route_id)[-1][:3] == ("request_review", "drafted", "drafted")

    # The curator sees it waiting in the queue and returns it with a comment.
    auth.logout()
    auth.login("curator")
    queue = client.get("/queue").get_data(as_text=True)
    assert "Утверждение маршрута" in queue and f"ИОМ № {route_id}" in queue
    assert transition(client, auth, "curator", route_id, "return_to_draft").status_code == 422
    assert fresh(route_id).review_requested_at is not None  # nothing changed without a comment
    assert transition(client, auth, "curator", route_id, "return_to_draft",
                      "Уточните сроки курсов").status_code == 302
    assert fresh(route_id).state == "drafted" and fresh(route_id).review_requested_at is None
    assert events(route_id)[-1] == ("return_to_draft", "drafted", "drafted", "Уточните сроки курсов")
    assert "Уточните сроки курсов" in page(client, route_id)

    # The teacher asks again; the curator approves.
    assert transition(client, auth, "teacher", route_id, "request_review").status_code == 302
    assert transition(client, auth, "curator", route_id, "approve").status_code == 302
    assert fresh(route_id).state == "curator_approved"
    assert events(route_id)[-1][:3] == ("approve", "drafted", "curator_approved")

    # The teacher starts and records results, one with an uploaded file.
    assert transition(client, auth, "teacher", route_id, "start").status_code == 302
    assert fresh(route_id).state == "in_progress"
    first, second = fresh(route_id).activities
    response = act(client, auth, "teacher", f"/routes/{route_id}/activities/{first.id}/result",
                   {"version": fresh(route_id).version, "status": "done", "product": "Карта самодиагностики",
                    "product_url": "https://example.org/map"},
                   files={"file": (io.BytesIO(b"%PDF-1.4\n1 0 obj <<>> endobj\n%%EOF\n"), "Карта самодиагностики.pdf")},
                   content_type="multipart/form-data")
    assert response.status_code == 302
    first = fresh(route_id).activities[0]
    assert first.status == "done" and first.product_file.original_name == "Карта самодиагностики.pdf"
    assert "Карта самодиагностики.pdf" in page(client, route_id)

    # A correction of the second activity's deadline, approved by the curator.
    new_deadline = today + timedelta(days=120)
    response = client.post(f"/routes/{route_id}/corrections/new", data={
        "version": fresh(route_id).version, "action": "change", "activity_id": second.id,
        "stage": second.stage, "direction": second.direction, "deficit": second.deficit, "tasks": second.tasks,
        "forms": second.forms, "deadline": new_deadline.isoformat(), "result_form": second.result_form,
        "reason": "Курсы перенесены на осень"})
    assert response.status_code == 302
    correction = fresh(route_id).corrections[-1]
    assert correction.status == "pending" and correction.proposal["fields"] == {"deadline": new_deadline.isoformat()}
    assert events(route_id)[-1][0] == "correction_requested"
    text = page(client, route_id)
    assert "Курсы перенесены на осень" in text and "Ожидает решения куратора" in text
    assert "Недоступно: Не заполнена саморефлексия (раздел 4)" in text
    response = act(client, auth, "curator", f"/routes/{route_id}/corrections/{correction.id}/decision",
                   {"version": fresh(route_id).version, "decision": "approve", "comment": "Согласовано"})
    assert response.status_code == 302
    assert fresh(route_id).activities[1].deadline == new_deadline
    assert fresh(route_id).corrections[-1].previous_roadmap[1]["deadline"] != new_deadline.isoformat()
    assert events(route_id)[-1] == ("correction_approved", "in_progress", "in_progress", "Согласовано")

    # The teacher marks the second activity not done, writes the reflection and submits it.
    response = act(client, auth, "teacher", f"/routes/{route_id}/activities/{second.id}/result",
                   {"version": fresh(route_id).version, "status": "not_done", "reason": "Курсы отменены"})
    assert response.status_code == 302
    response = client.post(f"/routes/{route_id}/reflection", data={
        "version": fresh(route_id).version, "text": "Освоила приёмы самодиагностики", "submit_and_send": "1"})
    assert response.status_code == 302
    assert fresh(route_id).state == "reflected"
    assert events(route_id)[-1][:3] == ("submit_reflection", "in_progress", "reflected")

    # The curator returns the reflection; the teacher adds to it and resubmits.
    assert transition(client, auth, "curator", route_id, "return_reflection",
                      "Опишите продукты подробнее").status_code == 302
    assert fresh(route_id).state == "in_progress"
    assert events(route_id)[-1] == ("return_reflection", "reflected", "in_progress", "Опишите продукты подробнее")
    auth.logout()
    auth.login("teacher")
    response = client.post(f"/routes/{route_id}/reflection", data={
        "version": fresh(route_id).version, "text": "Освоила приёмы самодиагностики; создала карту.",
        "submit": "1"})
    assert response.status_code == 302 and fresh(route_id).state == "in_progress"
    assert transition(client, auth, "teacher", route_id, "submit_reflection").status_code == 302
    assert fresh(route_id).state == "reflected"

    # The curator writes the recommendations and closes the route.
    response = act(client, auth, "curator", f"/routes/{route_id}/recommendations",
                   {"version": fresh(route_id).version, "text": "Курсы ПК по финансовой грамотности",
                    "submit_and_send": "1"})
    assert response.status_code == 302
    route = fresh(route_id)
    assert route.state == "closed" and route.recommendations == "Курсы ПК по финансовой грамотности"
    assert [e[0] for e in events(route_id)] == [
        "request_review", "return_to_draft", "request_review", "approve", "start", "correction_requested",
        "correction_approved", "submit_reflection", "return_reflection", "submit_reflection", "close"]

    # The timeline shows every step in Russian, with who and the comments.
    text = page(client, route_id)
    for label in ["Маршрут отправлен куратору на согласование", "Маршрут возвращён на доработку",
                  "Маршрут утверждён куратором", "Начата реализация маршрута", "Представлена саморефлексия",
                  "Саморефлексия возвращена на доработку", "Маршрут закрыт", "Опишите продукты подробнее",
                  "Пользователь curator", "Пользователь teacher", "Черновик → Утверждён куратором"]:
        assert label in text, label
    assert "Маршрут закрыт." in text  # no actions left


def _forms_of(html):
    return set(re.findall(r'data-trigger="(\w+)"', html))


@pytest.mark.parametrize("state, login, expected", [
    ("drafted", "teacher", {"request_review"}),
    ("drafted", "curator", set()),
    ("under_review", "curator", {"approve", "return_to_draft"}),
    ("under_review", "teacher", set()),
    ("curator_approved", "teacher", {"start"}),
    ("curator_approved", "curator", {"start", "return_to_draft"}),
    ("in_progress", "teacher", set()),
    ("reflected", "curator", {"return_reflection"}),
    ("drafted", "head", {"archive"}),
    ("in_progress", "director1", set()),
    ("in_progress", "admin", set()),
])
def test_route_page_offers_only_allowed_actions(client, auth, district, state, login, expected):
    route = district.route(state=state)
    auth.login(login)
    html = page(client, route.id)
    assert _forms_of(html) == expected


def test_unavailable_actions_say_why(client, auth, district):
    route = district.route(activities=0)
    auth.login("teacher")
    html = page(client, route.id)
    assert 'data-reason="request_review"' in html
    assert "Недоступно: В дорожной карте нет ни одного мероприятия" in html
    route = district.route(state="reflected")
    auth.logout()
    auth.login("curator")
    html = page(client, route.id)
    assert "Не заполнены рекомендации куратора (раздел 5)" in html


def test_transition_not_allowed_now_is_409_with_message(client, auth, district):
    route = district.route()
    response = transition(client, auth, "curator", route.id, "approve")
    assert response.status_code == 409
    assert "Педагог ещё не отправил маршрут на согласование" in response.get_data(as_text=True)
    assert fresh(route.id).state == "drafted"


def test_stale_transition_is_409_and_changes_nothing(client, auth, district):
    route = district.route(state="under_review")
    stale = route.version
    service.update_route(route.id, district.curator, {"request": "Уточнено куратором"}, stale)
    auth.login("curator")
    response = client.post(f"/routes/{route.id}/transitions/return_to_draft",
                           data={"version": stale, "comment": "Мой комментарий"})
    assert response.status_code == 409
    text = response.get_data(as_text=True)
    assert "Маршрут уже изменён другим пользователем" in text
    assert "Мой комментарий" in text  # the comment is shown again, not lost
    assert fresh(route.id).review_requested_at is not None and fresh(route.id).request == "Уточнено куратором"


def test_stale_edit_keeps_the_input_and_loses_nothing(client, auth, district):
    route = district.route()
    stale = route.version
    service.update_route(route.id, district.curator, {"subject": "Физика"}, stale)
    auth.login("teacher")
    response = client.post(f"/routes/{route.id}/edit", data={
        "version": stale, "request": "Мой новый запрос", "subject": "Химия",
        "period_start": route.period_start.isoformat(), "period_end": route.period_end.isoformat()})
    assert response.status_code == 409
    text = response.get_data(as_text=True)
    assert "Маршрут уже изменён другим пользователем" in text
    assert "Мой новый запрос" in text and "Химия" in text  # the user's input is still in the form
    current = fresh(route.id)
    assert (current.subject, current.request) != ("Химия", "Мой новый запрос")
    assert current.subject == "Физика"  # the other user's change is kept
    # The form now carries the current version: sending it again saves.
    assert f'value="{current.version}"' in text


def test_stale_activity_edit_is_409(client, auth, district):
    route = district.route(activities=2)
    stale = route.version
    service.update_route(route.id, district.curator, {"subject": "Физика"}, stale)
    auth.login("teacher")
    response = client.post(f"/routes/{route.id}/activities/{route.activities[0].id}/delete",
                           data={"version": stale})
    assert response.status_code == 409
    assert len(fresh(route.id).activities) == 2


def test_bad_input_is_422_in_russian_and_changes_nothing(client, auth, district):
    route = district.route()
    auth.login("teacher")
    response = client.post(f"/routes/{route.id}/edit", data={
        "version": route.version, "period_start": "2026-09-01", "period_end": "2026-01-01", "request": "Х"})
    assert response.status_code == 422
    assert "Окончание периода раньше его начала" in response.get_data(as_text=True)
    response = client.post(f"/routes/{route.id}/edit", data={"version": route.version, "experience_years": "много"})
    assert response.status_code == 422 and "Стаж должен быть целым числом лет" in response.get_data(as_text=True)
    response = client.post(f"/routes/{route.id}/activities/new", data={
        "version": route.version, "stage": "nonsense", "direction": "methodical", "deficit": "Д"})
    assert response.status_code == 422 and "Неизвестный этап маршрута" in response.get_data(as_text=True)
    response = client.post(f"/routes/{route.id}/edit", data={"request": "Без версии"})
    assert response.status_code == 422 and "версии" in response.get_data(as_text=True)
    response = client.post(f"/routes/{route.id}/edit", data={"version": route.version, "workplace": "Ш" * 301})
    assert response.status_code == 422 and "Не длиннее 300 символов" in response.get_data(as_text=True)
    assert fresh(route.id).version == route.version


def test_activity_edit_and_delete(client, auth, district):
    route = district.route(activities=2)
    first, second = route.activities
    auth.login("teacher")
    form = client.get(f"/routes/{route.id}/activities/{first.id}/edit").get_data(as_text=True)
    assert first.deficit in form
    response = client.post(f"/routes/{route.id}/activities/{first.id}/edit", data={
        "version": route.version, "stage": "analytical", "direction": "informational", "deficit": "Новый дефицит",
        "tasks": "", "forms": "", "deadline": "", "result_form": ""})
    assert response.status_code == 302
    assert (fresh(route.id).activities[0].stage, fresh(route.id).activities[0].deficit) == ("analytical",
                                                                                              "Новый дефицит")
    response = client.post(f"/routes/{route.id}/activities/{second.id}/delete",
                           data={"version": fresh(route.id).version})
    assert response.status_code == 302
    assert [a.deficit for a in fresh(route.id).activities] == ["Новый дефицит"]


def test_correction_rejection_needs_comment(client, auth, district):
    route = district.route(state="in_progress", activities=2)
    service.request_correction(route.id, district.teacher, reason="Нужен семинар", action="add",
                               fields={"stage": "design", "direction": "professional", "deficit": "Семинар"},
                               version=route.version)
    correction = fresh(route.id).corrections[0]
    response = act(client, auth, "curator", f"/routes/{route.id}/corrections/{correction.id}/decision",
                   {"version": fresh(route.id).version, "decision": "reject", "comment": ""})
    assert response.status_code == 422
    assert "Укажите причину отклонения корректировки" in response.get_data(as_text=True)
    assert fresh(route.id).corrections[0].status == "pending"
    assert 'id="pending-hint"' in page(client, route.id)  # the curator is told a decision waits
    response = client.post(f"/routes/{route.id}/corrections/{correction.id}/decision",
                           data={"version": fresh(route.id).version, "decision": "reject",
                                 "comment": "Семинар уже был"})
    assert response.status_code == 302
    assert fresh(route.id).corrections[0].status == "rejected"
    assert len(fresh(route.id).activities) == 2
    assert events(route.id)[-1] == ("correction_rejected", "in_progress", "in_progress", "Семинар уже был")
    assert "Семинар уже был" in page(client, route.id)


def test_correction_add_and_remove_through_forms(client, auth, district):
    route = district.route(state="in_progress", activities=2)
    auth.login("teacher")
    form = client.get(f"/routes/{route.id}/corrections/new?action=remove&activity_id={route.activities[1].id}")
    assert form.status_code == 200 and route.activities[1].deficit in form.get_data(as_text=True)
    response = client.post(f"/routes/{route.id}/corrections/new", data={
        "version": route.version, "action": "remove", "activity_id": route.activities[1].id,
        "reason": "Дублирует первое"})
    assert response.status_code == 302
    # A second pending correction is refused with the reason.
    response = client.post(f"/routes/{route.id}/corrections/new", data={
        "version": fresh(route.id).version, "action": "add", "stage": "design", "direction": "methodical",
        "deficit": "Вебинар", "reason": "Нужно"})
    assert response.status_code == 409
    assert "Предыдущая корректировка ещё ждёт решения куратора" in response.get_data(as_text=True)
    correction = fresh(route.id).corrections[0]
    act(client, auth, "curator", f"/routes/{route.id}/corrections/{correction.id}/decision",
        {"version": fresh(route.id).version, "decision": "approve"})
    assert len(fresh(route.id).activities) == 1
    assert "Дорожная карта до корректировки (2 мероприятия)" in page(client, route.id)


def test_department_head_archives_with_reason(client, auth, district):
    route = district.route(state="in_progress")
    assert transition(client, auth, "head", route.id, "archive").status_code == 422
    assert fresh(route.id).state == "in_progress"
    assert transition(client, auth, "head", route.id, "archive", "Педагог уволился").status_code == 302
    assert fresh(route.id).state == "closed"
    assert events(route.id)[-1] == ("archive", "in_progress", "closed", "Педагог уволился")


def test_curator_creates_route_for_assigned_teacher_only(client, auth, district):
    auth.login("curator")
    response = client.post("/routes/new", data={"teacher_id": district.teacher.id})
    assert response.status_code == 302
    created = db.session.execute(select(Route).order_by(Route.id.desc())).scalars().first()
    assert created.teacher_id == district.teacher.id
    response = client.post("/routes/new", data={"teacher_id": district.other_teacher.id})
    assert response.status_code == 403
    assert db.session.execute(select(func.count(Route.id))).scalar_one() == 1


def test_lists_filter_and_paginate(app, client, auth, district):
    app.config["PAGE_SIZE"] = 2
    for _ in range(3):
        district.route()
    district.route(teacher=district.other_teacher, state="in_progress")
    auth.login("head")
    html = client.get("/routes").get_data(as_text=True)
    assert "Найдено: 4." in html and 'aria-label="Страницы"' in html
    assert html.count("ИОМ № ") == 2
    html = client.get("/routes?page=2").get_data(as_text=True)
    assert html.count("ИОМ № ") == 2
    html = client.get(f"/routes?school={district.other_school.id}").get_data(as_text=True)
    assert "Найдено: 1." in html
    html = client.get("/routes?state=in_progress").get_data(as_text=True)
    assert "Найдено: 1." in html
    html = client.get("/routes?state=bogus&page=abc").get_data(as_text=True)
    assert "Найдено: 4." in html


def test_school_head_sees_overdue_activities(client, auth, district):
    route = district.route(state="in_progress", activities=2)
    yesterday = date.today() - timedelta(days=1)
    service.request_correction(route.id, district.teacher, reason="Сдвиг", action="change",
                               activity_id=route.activities[0].id, fields={"deadline": yesterday.isoformat()},
                               version=route.version)
    service.decide_correction(route.id, fresh(route.id).corrections[0].id, district.curator, approve=True)
    district.route()  # a route without anything overdue
    auth.login("director1")
    html = client.get("/routes").get_data(as_text=True)
    assert re.search(r'id="overdue-total">1<', html)
    assert html.count('class="table-danger"') == 1
    html = page(client, route.id)
    assert "Просрочено мероприятий: 1" in html and "просрочено" in html


def test_curator_queue_shows_waiting_and_days(client, auth, district):
    waiting = district.route(state="under_review")
    district.route(state="in_progress")
    district.route(teacher=district.other_teacher, state="under_review")  # another curator's
    auth.login("curator")
    html = client.get("/queue").get_data(as_text=True)
    assert "Утверждение маршрута" in html and "0 дней" in html
    assert f"ИОМ № {waiting.id}" in html
    assert district.other_teacher.full_name not in html
    assert "Все маршруты моих педагогов" in html


def test_curator_queue_rows_escape_names(client, auth, district):
    district.teacher.full_name = "<b>Иванова</b> & Co"
    district.school.name = "СОШ <№ 1>"
    db.session.commit()
    route = district.route(state="under_review")
    auth.login("curator")
    html = client.get("/queue").get_data(as_text=True)
    assert "<b>Иванова</b>" not in html and "СОШ <№ 1>" not in html
    assert html.count("&lt;b&gt;Иванова&lt;/b&gt; &amp; Co") == 2  # the queue and the list under it
    assert html.count("СОШ &lt;№ 1&gt;") == 2
    assert html.count(f'href="/routes/{route.id}"') == 2


def test_dates_and_plurals(app):
    from views.web import days_ru, ru_date
    assert ru_date(date(2022, 9, 1)) == "01.09.2022" and ru_date(None) == ""
    assert ru_date("2022-09-01") == "01.09.2022" and ru_date("not a date") == "not a date"
    from views.web import filesize_ru
    assert [filesize_ru(n) for n in (5, 2048, 3 * 1024 * 1024 + 100)] == ["5 байт", "2,0 КБ", "3,0 МБ"]
    assert [days_ru(n) for n in (1, 2, 5, 11, 21, 104)] == ["1 день", "2 дня", "5 дней", "11 дней", "21 день",
                                                           "104 дня"]


def test_csrf_is_required_on_state_changes(app, client, auth, district):
    route = district.route(state="under_review")
    auth.login("curator")
    app.config["WTF_CSRF_ENABLED"] = True
    response = client.post(f"/routes/{route.id}/transitions/approve", data={"version": route.version})
    assert response.status_code == 400
    assert fresh(route.id).state == "drafted"
    html = page(client, route.id)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    response = client.post(f"/routes/{route.id}/transitions/approve",
                           data={"version": route.version, "csrf_token": token})
    assert response.status_code == 302 and fresh(route.id).state == "curator_approved"


def test_no_get_changes_state(client, auth, district):
    route = district.route(state="under_review")
    auth.login("curator")
    assert client.get(f"/routes/{route.id}/transitions/approve").status_code == 405
    assert fresh(route.id).state == "drafted"
    assert db.session.execute(select(func.count(RouteEvent.id))).scalar_one() == 1
    assert db.session.execute(select(func.count(StoredFile.id))).scalar_one() == 0


def test_save_and_send_keeps_the_text_when_sending_is_refused(client, auth, district):
    route = district.route(state="in_progress", activities=2)
    auth.login("teacher")
    response = client.post(f"/routes/{route.id}/reflection", data={
        "version": route.version, "text": "Промежуточные итоги", "submit_and_send": "1"}, follow_redirects=True)
    text = response.get_data(as_text=True)
    assert "Текст сохранён, но отправить не удалось: Не отмечено выполнение мероприятий дорожной карты: 2" in text
    current = fresh(route.id)
    assert current.state == "in_progress" and current.reflection == "Промежуточные итоги"


def test_teacher_profile_lists_routes_and_offers_creation_to_the_curator(client, auth, district):
    first = district.route()
    second = district.route(state="in_progress")
    auth.login("curator")
    html = client.get(f"/teachers/{district.teacher.id}").get_data(as_text=True)
    assert district.teacher.full_name in html and "СОШ № 1" in html and "Пользователь curator" in html
    assert f'href="/routes/{first.id}"' in html and f'href="/routes/{second.id}"' in html
    assert "Создать маршрут для педагога" in html
    auth.logout()
    auth.login("director1")
    html = client.get(f"/teachers/{district.teacher.id}").get_data(as_text=True)
    assert f'href="/routes/{first.id}"' in html and "Создать маршрут для педагога" not in html


def test_a_stored_utc_time_shows_as_the_districts_local_date(app):
    from datetime import datetime
    from views.web import ru_date, ru_datetime
    with app.app_context():
        assert ru_date(datetime(2022, 9, 1, 20, 59)) == "01.09.2022"  # 23:59 in Moscow
        assert ru_date(datetime(2022, 9, 1, 21, 0)) == "02.09.2022"  # midnight in Moscow: the next day
        assert ru_datetime(datetime(2022, 9, 1, 21, 0)) == "02.09.2022 00:00"
        app.config["DISPLAY_TIMEZONE"] = "Asia/Vladivostok"  # UTC+10
        assert ru_date(datetime(2022, 9, 1, 13, 59)) == "01.09.2022"
        assert ru_date(datetime(2022, 9, 1, 14, 0)) == "02.09.2022"


def test_road_map_shows_a_table_per_stage_in_stage_order_numbered_by_road_map_position(client, auth, district):
    """Activities 1–6 cycle through the stages (1: diagnostic-motivational, 2: design, 3: implementation,
    4: analytical, 5: diagnostic-motivational, 6: design); a stage with none has no table, and the
    numbers are positions in the road map as it is (without the 4th, the 5th is number 4)."""
    route = district.route(activities=6)
    ids = [a.id for a in fresh(route.id).activities]
    db.session.execute(db.delete(db.metadata.tables["activities"]).where(
        db.metadata.tables["activities"].c.id == ids[3]))  # no analytical activity left
    db.session.commit()
    auth.login("teacher")
    text = page(client, route.id)
    headings = re.findall(r'<h3 class="h6 mt-3">([^<]*)</h3>', text)
    assert headings == ["Диагностико-мотивационный этап", "Проектировочный этап", "Реализационный этап"]
    tables = text.split('<h3 class="h6 mt-3">')[1:]
    rows = [re.findall(r'<tr id="activity-(\d+)"[^>]*>\s*<td>(\d+)</td>', table) for table in tables]
    assert rows == [[(str(ids[0]), "1"), (str(ids[4]), "4")],
                    [(str(ids[1]), "2"), (str(ids[5]), "5")],
                    [(str(ids[2]), "3")]]
