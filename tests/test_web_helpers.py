"""The workflow helpers behind the web pages, without HTTP: profile access, admin edits, list queries, uploads."""
from datetime import date, timedelta

import pytest

from models import Route, db
from workflow import accounts, permissions, queries, service, uploads
from workflow.errors import InvalidInput, NotFound

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


@pytest.mark.parametrize("viewer, allowed", [
    ("teacher", True), ("curator", True), ("school_head", True), ("head", True), ("admin", True),
    ("other_teacher", False), ("other_curator", False), ("other_school_head", False),
])
def test_who_may_see_a_teacher_profile(district, viewer, allowed):
    assert permissions.can_view_teacher(getattr(district, viewer), district.teacher) is allowed
    if not allowed:
        with pytest.raises(NotFound):
            permissions.require_view_teacher(getattr(district, viewer), district.teacher)
    assert permissions.can_view_teacher(None, district.teacher) is False
    assert permissions.can_view_teacher(district.admin, None) is False


def test_department_head_of_another_municipality_sees_no_profile(district):
    from models import Municipality
    other = Municipality(name="Другой район")
    db.session.add(other)
    db.session.commit()
    stranger = accounts.create_user("head2", role="department_head", full_name="Начальник 2",
                                    password="password-123", municipality=other)
    assert permissions.can_view_teacher(stranger, district.teacher) is False


def test_admin_edit_rules(district):
    with pytest.raises(InvalidInput, match="Нельзя снять с себя"):
        accounts.check_user_change(district.admin, district.admin, role="curator", active=True, school=None)
    with pytest.raises(InvalidInput, match="Нельзя снять с себя"):
        accounts.check_user_change(district.admin, district.admin, role="admin", active=False, school=None)
    with pytest.raises(InvalidInput, match="укажите школу"):
        accounts.check_user_change(district.admin, district.curator, role="teacher", active=True, school=None)
    # Allowed: another admin's change, a teacher who keeps their school, a school given.
    accounts.check_user_change(district.admin, district.teacher, role="teacher", active=False, school=None)
    accounts.check_user_change(district.admin, district.curator, role="school_head", active=True,
                               school=district.school)


def _overdue_route(district, teacher=None, state="in_progress"):
    route = district.route(teacher=teacher, state=state, activities=2)
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    owner = teacher or district.teacher
    curator = owner.curator
    _, correction = service.request_correction(route.id, owner, reason="Сдвиг", action="change",
                                               activity_id=route.activities[0].id, fields={"deadline": yesterday})
    service.decide_correction(route.id, correction.id, curator, approve=True)
    return route


def test_state_counts_and_overdue_summary(district):
    _overdue_route(district)
    _overdue_route(district, teacher=district.other_teacher)
    district.route()
    district.route(state="under_review")
    head, director = district.head, district.school_head
    assert queries.state_counts(head) == {"in_progress": 2, "drafted": 2}
    assert queries.state_counts(director) == {"in_progress": 1, "drafted": 2}
    assert queries.state_counts(head, school_id=district.other_school.id) == {"in_progress": 1}
    assert queries.state_counts(district.curator, curator_id=district.curator.id) == {"in_progress": 1,
                                                                                       "drafted": 2}
    assert queries.overdue_summary(head) == (2, 2)
    assert queries.overdue_summary(director) == (1, 1)
    assert queries.overdue_summary(district.other_teacher) == (1, 1)
    assert queries.overdue_summary(district.teacher, teacher_id=district.teacher.id) == (1, 1)


def test_closed_routes_are_not_counted_as_overdue(district):
    route = _overdue_route(district)
    service.apply_transition(route.id, "archive", district.head, comment="Уволился")
    assert queries.overdue_summary(district.head) == (0, 0)


def test_curated_routes_exclude_the_curators_own(district):
    curated = district.route()
    own = service.create_route(district.curator)
    ids = [row[0].id for row in db.session.execute(queries.curated_routes_query(district.curator)).unique()]
    assert ids == [curated.id]
    visible = [row[0].id for row in db.session.execute(queries.routes_query(district.curator)).unique()]
    assert sorted(visible) == sorted([curated.id, own.id])


def test_curator_plain_rows_match_the_entity_queries(district):
    curated = district.route()
    own = service.create_route(district.curator)
    curator = district.curator
    rows = db.session.execute(queries.curated_route_rows(curator)).all()
    entities = db.session.execute(queries.curated_routes_query(curator)).unique().all()
    assert [(r.id, r.state, r.teacher_name, r.school_name, r.overdue) for r in rows] == [
        (route.id, route.state, route.teacher.full_name, route.school.name if route.school else None, overdue)
        for route, overdue in entities]
    assert [r.id for r in rows] == [curated.id]
    counts, own_total = queries.curator_state_counts(curator)
    assert counts == queries.state_counts(curator, curator_id=queries.curated_ids(curator)) == {"drafted": 1}
    assert own_total == sum(queries.state_counts(curator, teacher_id=curator.id).values()) == 1
    assert own.teacher_id == curator.id


def test_user_search_finds_cyrillic_names_in_any_case(district):
    accounts.create_user("ivanova", role="teacher", full_name="Иванова Анна Сергеевна", password="password-123",
                         school=district.school)

    def found(text):
        return [u.login for (u,) in db.session.execute(queries.users_query(text=text)).unique()]

    assert found("иванова") == ["ivanova"]
    assert found("Иванова") == ["ivanova"]
    assert found("анна") == ["ivanova"]
    assert found("IVANOVA") == ["ivanova"]
    assert found("%") == []  # wildcards are escaped
    assert [u.login for (u,) in db.session.execute(queries.users_query(role="school_head")).unique()] == [
        "director1", "director2"]


def test_visible_schools(district):
    assert [s.name for s in queries.visible_schools(district.head)] == ["СОШ № 1", "СОШ № 2"]
    assert [s.name for s in queries.visible_schools(district.admin)] == ["СОШ № 1", "СОШ № 2"]


def test_event_labels_cover_every_trigger_and_correction_event():
    from workflow.states import TRIGGERS
    assert set(TRIGGERS) | {"correction_requested", "correction_approved", "correction_rejected"} <= set(
        queries.EVENT_LABELS)


def test_uploaded_names_keep_cyrillic_and_lose_directories():
    assert uploads.clean_filename("C:\\Users\\Мария\\Конспект «урок».pdf") == "Конспект «урок».pdf"
    assert uploads.clean_filename("../../etc/Отчёт.pdf") == "Отчёт.pdf"
    assert uploads.clean_filename("Отчёт\x00\r\n.pdf") == "Отчёт.pdf"
    long = uploads.clean_filename("Я" * 300 + ".docx")
    assert len(long) == 255 and long.endswith(".docx")
    with pytest.raises(InvalidInput):
        uploads.clean_filename("../")


def test_product_payload_checks_type_and_size():
    payload = uploads.product_file_payload("Разработка.pdf", PDF)
    assert payload["original_name"] == "Разработка.pdf" and payload["content_type"] == "application/pdf"
    assert payload["size"] == len(PDF) and len(payload["sha256"]) == 64 and payload["data"] == PDF
    with pytest.raises(InvalidInput, match="тип файла"):
        uploads.product_file_payload("вирус.exe", b"MZ")
    with pytest.raises(InvalidInput) as too_big:
        uploads.product_file_payload("Большой.pdf", PDF, max_bytes=10)
    assert too_big.value.status == 413


def test_product_file_download_checks_the_route(district):
    route = district.route(state="in_progress")
    service.record_activity_result(route.id, route.activities[0].id, district.teacher, status="done",
                                   product="П", file=uploads.product_file_payload("Отчёт.pdf", PDF))
    db.session.expire_all()
    file_id = db.session.get(Route, route.id).activities[0].product_file_id
    assert uploads.load_product_file(file_id, district.curator).data == PDF
    assert uploads.load_product_file(file_id, district.school_head).original_name == "Отчёт.pdf"
    for stranger in (district.other_teacher, district.other_curator, district.other_school_head):
        with pytest.raises(NotFound):
            uploads.load_product_file(file_id, stranger)
    with pytest.raises(NotFound):
        uploads.load_product_file(file_id + 1000, district.admin)


def test_route_no_label_in_each_language(app):
    from flask_babel import force_locale

    from views.web import route_no
    with app.test_request_context("/"):
        assert str(route_no(42)) == "ИОМ № 42"
        assert str(route_no("7")) == "ИОМ № 7"
        with force_locale("en"):
            english = str(route_no(42))
        assert "42" in english and "ИОМ" not in english
        with pytest.raises(ValueError):
            route_no("<script>")


def test_substituted_for_is_offered_to_templates_only_to_a_substitute(app, district):
    from flask_login import login_user

    from models import Substitution
    with app.test_request_context("/"):
        login_user(district.other_curator)
        context = {}
        app.update_template_context(context)
        assert context["substituted_for"] is None
    today = date.today()
    db.session.add(Substitution(principal_id=district.curator.id, substitute_id=district.other_curator.id,
                                starts_on=today, ends_on=today + timedelta(days=3),
                                created_by_id=district.admin.id))
    db.session.commit()
    route = district.route(state="in_progress")
    with app.test_request_context("/"):
        login_user(district.other_curator)
        context = {}
        app.update_template_context(context)
        from workflow.delegation import short_name
        assert context["substituted_for"](route) == short_name(district.curator.full_name)
