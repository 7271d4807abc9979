"""Notifications: who hears of each transition and comment, the bell and the list, and the mail."""
import logging

import pytest
from flask_babel import force_locale, gettext
from sqlalchemy import func, select

from models import Notification, RouteComment, db
from tests._servers import free_port
from tests._smtp import SmtpServer
from workflow import notifications, service
from workflow.errors import InvalidInput, NotFound


def received(user, kind=None):
    """The notifications a user has (optionally of one kind), oldest first."""
    db.session.expire_all()
    query = select(Notification).where(Notification.user_id == user.id).order_by(Notification.id)
    if kind:
        query = query.where(Notification.kind == kind)
    return db.session.execute(query).scalars().all()


def kinds(user):
    return [n.kind for n in received(user)]


def count_all():
    db.session.expire_all()
    return db.session.execute(select(func.count(Notification.id))).scalar_one()


@pytest.fixture
def smtp(app):
    with SmtpServer() as server:
        server.configure(app)
        yield server


def _emails(district, teacher_locale=None, curator_locale=None):
    district.teacher.email = "teacher@example.ru"
    district.teacher.locale = teacher_locale
    district.curator.email = "curator@example.ru"
    district.curator.locale = curator_locale
    db.session.commit()


# --- who hears of what --------------------------------------------------------------------------------

def test_each_transition_notifies_the_other_party_never_the_actor(district):
    teacher, curator, head = district.teacher, district.curator, district.head
    route = district.route(state="under_review")
    assert kinds(curator) == ["request_review"] and kinds(teacher) == []

    service.apply_transition(route.id, "return_to_draft", curator, comment="Уточните сроки")
    assert kinds(teacher) == ["return_to_draft"]
    assert received(teacher)[0].params["comment"] == "Уточните сроки"
    assert received(teacher)[0].actor_id == curator.id

    service.apply_transition(route.id, "request_review", teacher)
    service.apply_transition(route.id, "approve", curator)
    service.apply_transition(route.id, "start", teacher)
    assert kinds(teacher) == ["return_to_draft", "approve"]
    assert kinds(curator) == ["request_review", "request_review", "start"]

    route = service.load_route(route.id, teacher)
    _, correction = service.request_correction(route.id, teacher, reason="Курсы перенесены", action="add",
                                               fields={"stage": "design", "direction": "methodical",
                                                       "deficit": "Вебинар"})
    assert kinds(curator)[-1] == "correction_requested"
    service.decide_correction(route.id, correction.id, curator, approve=True)
    assert kinds(teacher)[-1] == "correction_approved"

    route = service.load_route(route.id, teacher)
    for activity in route.activities:
        service.record_activity_result(route.id, activity.id, teacher, status="done", product="Конспект")
    service.update_route(route.id, teacher, {"reflection": "Итоги"}, None)
    service.apply_transition(route.id, "submit_reflection", teacher)
    assert kinds(curator)[-1] == "submit_reflection"
    service.apply_transition(route.id, "return_reflection", curator, comment="Подробнее")
    assert kinds(teacher)[-1] == "return_reflection"
    service.apply_transition(route.id, "submit_reflection", teacher)
    service.update_route(route.id, curator, {"recommendations": "Курсы ПК"}, None)
    service.apply_transition(route.id, "close", curator)
    assert kinds(teacher)[-1] == "close"

    # Nobody is ever told of their own action, and the department head was never a party.
    for user in (teacher, curator):
        assert all(n.actor_id != user.id for n in received(user))
    assert kinds(head) == []


def test_start_by_the_curator_notifies_the_teacher_and_archive_notifies_both(district):
    route = district.route(state="curator_approved")
    service.apply_transition(route.id, "start", district.curator)
    assert kinds(district.teacher)[-1] == "start"
    assert kinds(district.curator).count("start") == 0

    service.apply_transition(route.id, "archive", district.head, comment="Педагог уволился")
    assert kinds(district.teacher)[-1] == "archive" and kinds(district.curator)[-1] == "archive"
    assert kinds(district.head) == []


def test_recipients_function(district):
    route = district.route()
    teacher, curator = district.teacher.id, district.curator.id
    assert notifications.recipients(route, "request_review", district.teacher) == [curator]
    assert notifications.recipients(route, "approve", district.curator) == [teacher]
    assert notifications.recipients(route, "start", district.teacher) == [curator]
    assert notifications.recipients(route, "start", district.curator) == [teacher]
    assert notifications.recipients(route, "archive", district.head) == [teacher, curator]
    assert notifications.recipients(route, "comment", district.school_head) == [teacher, curator]
    assert notifications.recipients(route, "comment", district.teacher) == [curator]
    assert notifications.recipients(route, "correction_rejected", district.curator) == [teacher]
    # Events nobody is told of (road-map edits) and an actor who is the only party.
    assert notifications.recipients(route, "activity_added", district.teacher) == []
    assert notifications.recipients(route, "approve", district.teacher.id) == []


def test_refused_transition_notifies_nobody(district):
    route = district.route(state="under_review")
    before = count_all()
    with pytest.raises(InvalidInput):
        service.apply_transition(route.id, "return_to_draft", district.curator, comment="")
    assert count_all() == before


# --- comments -----------------------------------------------------------------------------------------

def test_comment_notifies_teacher_and_curator_except_the_author(district, client, auth):
    route = district.route()
    auth.login("director1")
    response = client.post(f"/routes/{route.id}/comments", data={"text": "Когда семинар?"})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/routes/{route.id}#comments")
    assert kinds(district.teacher) == ["comment"] and kinds(district.curator) == ["comment"]
    assert received(district.teacher)[0].params["comment"] == "Когда семинар?"
    assert kinds(district.school_head) == []

    notifications.add_comment(route.id, district.teacher, "В марте")
    assert kinds(district.curator) == ["comment", "comment"] and kinds(district.teacher) == ["comment"]
    page = client.get(f"/routes/{route.id}").get_data(as_text=True)
    assert "Когда семинар?" in page and "В марте" in page and 'id="comments"' in page


def test_comment_is_checked_and_hidden_from_strangers(district, client, auth):
    route = district.route()
    auth.login("teacher")
    response = client.post(f"/routes/{route.id}/comments", data={"text": "   "})
    assert response.status_code == 422 and "Напишите текст комментария" in response.get_data(as_text=True)
    long_text = "я" * (notifications.COMMENT_LIMIT + 1)
    response = client.post(f"/routes/{route.id}/comments", data={"text": long_text})
    assert response.status_code == 422 and long_text in response.get_data(as_text=True)  # kept in the form
    assert db.session.execute(select(func.count(RouteComment.id))).scalar_one() == 0
    with pytest.raises(NotFound):
        notifications.add_comment(route.id, district.other_teacher, "Чужой маршрут")
    auth.logout()
    auth.login("teacher2")
    assert client.post(f"/routes/{route.id}/comments", data={"text": "Привет"}).status_code == 404
    assert db.session.execute(select(func.count(RouteComment.id))).scalar_one() == 0
    assert count_all() == 0


def test_comments_api(district, client):
    from workflow import accounts
    route = district.route()
    token, _ = accounts.issue_token(district.curator, 1)
    headers = {"Authorization": f"Bearer {token}"}
    response = client.post(f"/api/v1/routes/{route.id}/comments", json={"text": "Добавьте курс"}, headers=headers)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["text"] == "Добавьте курс" and body["author"]["login"] == "curator"
    listed = client.get(f"/api/v1/routes/{route.id}/comments", headers=headers).get_json()
    assert [c["text"] for c in listed["items"]] == ["Добавьте курс"]
    assert kinds(district.teacher) == ["comment"] and kinds(district.curator) == []
    response = client.post(f"/api/v1/routes/{route.id}/comments", json={"text": ""}, headers=headers)
    assert response.status_code == 422 and response.get_json()["error"] == "validation_error"
    stranger, _ = accounts.issue_token(district.other_teacher, 1)
    response = client.get(f"/api/v1/routes/{route.id}/comments", headers={"Authorization": f"Bearer {stranger}"})
    assert response.status_code == 404 and response.get_json()["error"] == "not_found"


# --- the bell, the list, marking read ----------------------------------------------------------------------

def test_bell_list_and_mark_read(district, client, auth):
    route = district.route()
    notifications.add_comment(route.id, district.curator, "Первый")
    notifications.add_comment(route.id, district.curator, "Второй")
    auth.login("teacher")
    page = client.get("/routes").get_data(as_text=True)
    assert 'id="notification-count">2<' in page
    listing = client.get("/notifications").get_data(as_text=True)
    assert f"Новый комментарий к маршруту № {route.id}" in listing and "«Первый»" in listing

    first, second = received(district.teacher)
    response = client.post(f"/notifications/{first.id}/read", data={"open": "1"})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/routes/{route.id}")
    assert received(district.teacher)[0].read_at is not None and received(district.teacher)[1].read_at is None
    assert 'id="notification-count">1<' in client.get("/routes").get_data(as_text=True)
    unread_page = client.get("/notifications?unread=1").get_data(as_text=True)
    assert f'data-notification="{second.id}"' in unread_page and f'data-notification="{first.id}"' not in unread_page

    assert client.post("/notifications/read-all").status_code == 302
    assert all(n.read_at is not None for n in received(district.teacher))
    assert 'id="notification-count"' not in client.get("/routes").get_data(as_text=True)


def test_nobody_marks_someone_elses_notification(district, client, auth):
    route = district.route()
    notifications.add_comment(route.id, district.curator, "Только педагогу")
    mine = received(district.teacher)[0]
    auth.login("curator")
    assert client.post(f"/notifications/{mine.id}/read").status_code == 404
    assert client.post("/notifications/999999/read").status_code == 404
    assert received(district.teacher)[0].read_at is None
    client.post("/notifications/read-all")  # the curator's own: the teacher's stay unread
    assert received(district.teacher)[0].read_at is None
    with pytest.raises(NotFound):
        notifications.mark_read(district.curator, mine.id)


def test_notifications_api(district, client):
    from workflow import accounts
    route = district.route()
    notifications.add_comment(route.id, district.curator, "Вопрос")
    token, _ = accounts.issue_token(district.teacher, 1)
    headers = {"Authorization": f"Bearer {token}", "Accept-Language": "en"}
    body = client.get("/api/v1/notifications", headers=headers).get_json()
    assert body["unread"] == 1 and body["total"] == 1
    item = body["items"][0]
    assert item["kind"] == "comment" and item["route_id"] == route.id and item["read_at"] is None
    with client.application.test_request_context(), force_locale("en"):
        expected = gettext("Новый комментарий к маршруту № %(route)s (%(teacher)s)") % {
            "route": route.id, "teacher": district.teacher.full_name}
    assert item["text"] == expected and "Новый" not in item["text"]
    response = client.post(f"/api/v1/notifications/{item['id']}/read", headers=headers)
    assert response.status_code == 200 and response.get_json()["read_at"]
    other, _ = accounts.issue_token(district.curator, 1)
    response = client.post(f"/api/v1/notifications/{item['id']}/read", headers={"Authorization": f"Bearer {other}"})
    assert response.status_code == 404
    assert client.post("/api/v1/notifications/read", headers=headers).get_json() == {"marked": 0}


def test_list_is_rendered_in_the_readers_language(district, client, auth):
    route = district.route(state="under_review")
    service.apply_transition(route.id, "approve", district.curator)
    district.teacher.locale = "en"
    db.session.commit()
    auth.login("teacher")
    page = client.get("/notifications").get_data(as_text=True)
    with client.application.test_request_context(), force_locale("en"):
        english = gettext("Маршрут № %(route)s утверждён куратором") % {"route": route.id}
    assert english in page and "утверждён куратором" not in page


# --- mail ------------------------------------------------------------------------------------------------

def test_mail_after_a_transition_in_the_recipients_language(app, district, smtp):
    _emails(district, teacher_locale="en")
    route = district.route(state="under_review")
    # The curator (Russian by default) hears of the request for review.
    [to_curator] = smtp.inbox.to("curator@example.ru")
    assert to_curator["Subject"] == f"ИОМ: Маршрут № {route.id} ({district.teacher.full_name}) отправлен вам на согласование"
    assert to_curator["From"] == "iom@example.ru"
    assert f"https://iom.example.ru/routes/{route.id}" in smtp.inbox.body(to_curator)
    assert "Здравствуйте, Пользователь curator!" in smtp.inbox.body(to_curator)

    service.apply_transition(route.id, "return_to_draft", district.curator, comment="Уточните сроки")
    [to_teacher] = smtp.inbox.to("teacher@example.ru")
    with app.test_request_context(), force_locale("en"):
        subject = gettext("ИОМ: %(text)s", text=gettext("Маршрут № %(route)s возвращён на доработку", route=route.id))
    assert to_teacher["Subject"] == subject and "ИОМ:" not in subject
    body = smtp.inbox.body(to_teacher)
    assert "Уточните сроки" in body and f"https://iom.example.ru/routes/{route.id}" in body
    assert "Пользователь curator" in body
    # The actor never gets mail of their own action.
    assert len(smtp.inbox.to("curator@example.ru")) == 1 and len(smtp.inbox.messages) == 2


def test_users_without_email_get_only_in_app_notifications(district, smtp):
    district.route(state="under_review")
    assert kinds(district.curator) == ["request_review"]
    assert smtp.inbox.messages == []


def test_no_mail_without_mail_server(app, district, smtp):
    _emails(district)
    app.config["MAIL_SERVER"] = None
    district.route(state="under_review")
    assert kinds(district.curator) == ["request_review"]
    assert smtp.inbox.messages == []


def test_no_mail_and_no_notification_when_the_transition_rolls_back(district, smtp, monkeypatch):
    _emails(district)
    route = district.route()
    real_write = service.write_transition

    def write_then_fail(route, transition):
        real_write(route, transition)  # the audit row, the notification rows and the queued mail exist now...
        assert db.session.execute(select(func.count(Notification.id))).scalar_one() == 1
        assert db.session.info.get(notifications._OUTBOX)
        raise RuntimeError("the database went away")  # ...and the transaction fails after them

    monkeypatch.setattr(service, "write_transition", write_then_fail)
    with pytest.raises(RuntimeError):
        service.apply_transition(route.id, "request_review", district.teacher)
    monkeypatch.undo()
    assert count_all() == 0 and smtp.inbox.messages == []
    # The next transition that does commit mails only its own news.
    service.apply_transition(route.id, "request_review", district.teacher)
    assert len(smtp.inbox.messages) == 1 and kinds(district.curator) == ["request_review"]


@pytest.mark.parametrize("failure", ["refused", "unreachable"])
def test_smtp_failure_does_not_break_the_transition(app, district, failure, caplog):
    _emails(district)
    route = district.route()
    with SmtpServer(fail=True) as server:
        server.configure(app)
        if failure == "unreachable":
            app.config["MAIL_PORT"] = free_port()  # nothing listens there
        with caplog.at_level(logging.ERROR, logger="workflow.mail"):
            service.apply_transition(route.id, "request_review", district.teacher)
        assert server.inbox.messages == []
    db.session.expire_all()
    assert service.load_route(route.id, district.teacher).review_requested_at is not None
    assert kinds(district.curator) == ["request_review"]
    assert any("Mail" in record.getMessage() for record in caplog.records)


def test_web_transition_with_mail_redirects_as_usual(app, district, smtp, client, auth):
    _emails(district)
    route = district.route(state="under_review")
    auth.login("curator")
    response = client.post(f"/routes/{route.id}/transitions/approve", data={"version": route.version})
    assert response.status_code == 302
    [mail] = smtp.inbox.to("teacher@example.ru")
    assert mail["Subject"] == f"ИОМ: Маршрут № {route.id} утверждён куратором"
    assert f"https://iom.example.ru/routes/{route.id}" in smtp.inbox.body(mail)


def test_the_bell_costs_no_query_of_its_own(district, client, auth):
    """The unread count rides in the menu's single SELECT of badge counts (workflow.inbox.menu_counts)."""
    from tests.test_web_queries import counted
    route = district.route()
    notifications.add_comment(route.id, district.curator, "Вопрос")
    auth.login("teacher")
    client.get("/routes")
    with counted() as statements:
        page = client.get("/routes").get_data(as_text=True)
    assert 'id="notification-count">1<' in page
    touching = [s for s in statements if "notifications" in s]
    assert len(touching) == 1 and "routes" in touching[0]  # one SELECT, shared with the inbox's counts
