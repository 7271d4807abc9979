"""Monitoring campaigns: F2 = B2 / C2 × 100 % per school and in total, signing, the report, the API, the demo."""
import hashlib
import io
from datetime import date, timedelta

import docx
import pytest
from sqlalchemy import event, func, select

from models import MonitoringCampaign, Order, StoredFile, db
from workflow import accounts, diagnostics, monitoring, service
from workflow.errors import Conflict, InvalidInput, NotFound, NotPermitted, StaleVersion

PERIOD = {"title": "Мониторинг разработки ИОМ", "period_start": "27.03.2023", "period_end": "31.03.2023"}
HEADER = "ФИО;Школа;Диагностика;Дата;Компетенция;Балл;Дефицит\r\n"


def _results_csv(rows):
    lines = [HEADER]
    for name, school, title, held in rows:
        lines.append(f"{name};{school};{title};{held};Методические компетенции;2;да\r\n")
        lines.append(f"{name};{school};{title};{held};Предметные компетенции;4;нет\r\n")
    return "".join(lines).encode("cp1251")


def drive(route, teacher, curator, head, path):
    """Fire a sequence of triggers on a route as the right people."""
    actors = {"request_review": teacher, "approve": curator, "start": teacher, "return_to_draft": curator,
              "archive": head}
    for trigger in path:
        comment = "Причина" if trigger in {"return_to_draft", "archive"} else ""
        service.apply_transition(route.id, trigger, actors[trigger], comment)
    db.session.expire_all()
    return service.load_route(route.id, teacher)


def close(route, teacher, curator):
    route = drive(route, teacher, curator, None, ["request_review", "approve", "start"])
    for activity in route.activities:
        service.record_activity_result(route.id, activity.id, teacher, status="done", product="Конспект")
    service.update_route(route.id, teacher, {"reflection": "Итоги"}, None)
    service.apply_transition(route.id, "submit_reflection", teacher)
    service.update_route(route.id, curator, {"recommendations": "Курсы"}, None)
    return service.apply_transition(route.id, "close", curator)


@pytest.fixture
def dataset(district):
    """A hand-checked district: expected C2/B2/F2 per school are written beside each teacher.

    СОШ № 1: A in progress ✓, B under review ✗, C approved then archived ✓, D archived as a draft ✗,
             E approved but not built from the diagnostic ✗         -> C2 = 5, B2 = 2, F2 = 40 %
    СОШ № 2: F closed ✓, G no route ✗, H approved then returned to draft ✗,
             I took only a later diagnostic (after the period)       -> C2 = 3, B2 = 1, F2 = 33,3 %
    СОШ № 3: nobody diagnosed                                        -> C2 = 0, F2 = —
    Total: C2 = 8, B2 = 3, F2 = 37,5 %.
    """
    d = district
    d.third_school = accounts.create_school("СОШ № 3", d.municipality)
    people = {}
    for letter, school in zip("ABCDEFGHI", [d.school] * 5 + [d.other_school] * 4):
        user = accounts.create_user(f"t{letter.lower()}", role="teacher", full_name=f"Педагог {letter}",
                                    password="password-123", school=school, municipality=d.municipality)
        accounts.assign_curator(user, d.curator)
        people[letter] = user
    rows = [(f"Педагог {letter}", people[letter].school.name, "ФИОКО-2022", "15.09.2022") for letter in "ABCDEFGH"]
    rows.append(("Педагог I", "СОШ № 2", "ФИОКО-2023", "01.09.2023"))
    diagnostics.import_results(_results_csv(rows), actor=d.admin, provider="ФИОКО")
    curator, head = d.curator, d.head

    def from_diagnostic(letter):
        return diagnostics.draft_route_from_diagnostic(people[letter])

    drive(from_diagnostic("A"), people["A"], curator, head, ["request_review", "approve", "start"])
    drive(from_diagnostic("B"), people["B"], curator, head, ["request_review"])
    drive(from_diagnostic("C"), people["C"], curator, head, ["request_review", "approve", "archive"])
    drive(from_diagnostic("D"), people["D"], curator, head, ["archive"])
    d.route(teacher=people["E"], state="in_progress")
    close(from_diagnostic("F"), people["F"], curator)
    drive(from_diagnostic("H"), people["H"], curator, head, ["request_review", "approve", "return_to_draft"])
    d.people = people
    return d


def by_school(figures):
    return {s["name"]: (s["c2"], s["b2"], s["f2"]) for s in figures["schools"]}


def test_f2_per_school_and_in_total(dataset):
    campaign = monitoring.create_campaign(dataset.head, PERIOD)
    figures = monitoring.campaign_figures(campaign)
    assert by_school(figures) == {"СОШ № 1": (5, 2, 40.0), "СОШ № 2": (3, 1, 33.3), "СОШ № 3": (0, 0, None)}
    totals = figures["totals"]
    assert (totals["c2"], totals["b2"], totals["f2"]) == (8, 3, 37.5)
    assert totals["routes_developed"] == 3
    assert [s["name"] for s in figures["schools"]] == ["СОШ № 1", "СОШ № 2", "СОШ № 3"]
    lists = monitoring.campaign_teachers(campaign)
    assert sorted(p["full_name"] for p in lists["b2"]) == ["Педагог A", "Педагог C", "Педагог F"]
    assert len(lists["c2"]) == 8 and "Педагог I" not in {p["full_name"] for p in lists["c2"]}


@pytest.mark.parametrize("period_end", [date(2023, 3, 31), date(2024, 1, 1), date(2020, 1, 1)])
def test_indicator_alone_is_the_indicator_of_the_monitoring_page(dataset, period_end):
    indicator = monitoring.indicator_figures(dataset.municipality.id, period_end=period_end)
    page = monitoring.compute_figures(dataset.municipality.id, period_end=period_end)
    assert (indicator["c2"], indicator["b2"], indicator["f2"], indicator["routes_developed"]) == tuple(
        page["totals"][k] for k in ("c2", "b2", "f2", "routes_developed"))
    assert indicator["schools"] == {s["id"]: (s["c2"], s["b2"]) for s in page["schools"] if s["c2"]}
    for diagnostic in page["diagnostics"]:
        one = monitoring.indicator_figures(dataset.municipality.id, diagnostic_id=diagnostic["id"], period_end=None)
        whole = monitoring.compute_figures(dataset.municipality.id, diagnostic_id=diagnostic["id"], period_end=None)
        assert (one["c2"], one["b2"], one["f2"]) == tuple(whole["totals"][k] for k in ("c2", "b2", "f2"))


def test_school_head_sees_only_their_school_teachers_by_name(dataset):
    campaign = monitoring.create_campaign(dataset.head, PERIOD)
    lists = monitoring.campaign_teachers(campaign, dataset.other_school_head)
    assert {p["school"] for p in lists["c2"]} == {"СОШ № 2"}
    assert sorted(p["full_name"] for p in lists["b2"]) == ["Педагог F"]
    assert len(monitoring.campaign_teachers(campaign, dataset.head)["c2"]) == 8


def test_routes_by_state_and_overdue(dataset):
    figures = monitoring.campaign_figures(monitoring.create_campaign(dataset.head, PERIOD))
    first = next(s for s in figures["schools"] if s["name"] == "СОШ № 1")
    assert first["routes"] == {"drafted": 1, "curator_approved": 0, "in_progress": 2, "reflected": 0, "closed": 2}
    assert figures["totals"]["routes_total"] == 7
    assert figures["totals"]["overdue"] == 0
    later = monitoring.compute_figures(dataset.municipality.id, period_end=date(2023, 3, 31),
                                       today=date.today() + timedelta(days=5 * 366))
    # A's activity (one deficit) and E's one activity are planned and past due five years on;
    # drafts and closed routes have no overdue activities.
    assert later["totals"]["overdue"] == 2


def test_campaign_of_one_diagnostic_counts_only_it(dataset):
    later = next(d for d in monitoring.compute_figures(dataset.municipality.id, period_end=date(2024, 1, 1))
                 ["diagnostics"] if d["title"] == "ФИОКО-2023")
    campaign = monitoring.create_campaign(dataset.head, {**PERIOD, "period_end": "01.01.2024",
                                                         "diagnostic_id": later["id"]})
    totals = monitoring.campaign_figures(campaign)["totals"]
    assert (totals["c2"], totals["b2"], totals["f2"]) == (1, 0, 0.0)


def test_c2_zero_gives_no_f2(district):
    campaign = monitoring.create_campaign(district.head, PERIOD)
    figures = monitoring.campaign_figures(campaign)
    assert figures["totals"]["f2"] is None and monitoring.format_f2(None) == "—"
    assert all(s["f2"] is None for s in figures["schools"])
    assert monitoring.computed_line(0, 0).startswith("F2 = 0 / 0 × 100 % = —")
    monitoring.sign_campaign(district.head, campaign.id)
    text = report_text(campaign)
    assert "не рассчитывается" in text


def test_figures_are_sql_aggregates(dataset):
    """The number of queries does not grow with the number of schools and teachers."""
    municipality_id = dataset.municipality.id

    def count_queries():
        db.session.commit()  # each count starts its own transaction (so both see the BEGIN)
        statements = []
        listener = lambda *args: statements.append(1)  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            monitoring.compute_figures(municipality_id, period_end=date(2023, 3, 31))
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        return len(statements)

    before = count_queries()
    for n in range(4, 8):
        school = accounts.create_school(f"СОШ № {n}", dataset.municipality)
        dataset.user(f"extra{n}", "teacher", school)
    assert count_queries() == before


def report_text(campaign):
    data, _ = monitoring.report_document(campaign)
    document = docx.Document(io.BytesIO(data))
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.append(" | ".join(cell.text for cell in row.cells))
    return "\n".join(parts)


def test_signing_freezes_figures_lists_and_report(dataset):
    campaign = monitoring.create_campaign(dataset.head, PERIOD)
    monitoring.update_campaign(dataset.head, campaign.id, {"recommendations": "1. Продолжить работу."},
                               version=campaign.version)
    signed = monitoring.sign_campaign(dataset.head, campaign.id)
    frozen_figures, frozen_teachers = signed.figures, signed.teachers
    report_hash = signed.report_sha256
    data, name = monitoring.report_document(signed)
    assert hashlib.sha256(data).hexdigest() == report_hash and name.endswith(".docx")

    # G's route is built and approved, B's is approved: live figures move, the signed campaign does not.
    people = dataset.people
    drive(diagnostics.draft_route_from_diagnostic(people["G"]), people["G"], dataset.curator, dataset.head,
          ["request_review", "approve"])
    service.apply_transition(db.session.execute(select(service.Route.id).where(
        service.Route.teacher_id == people["B"].id)).scalar_one(), "approve", dataset.curator)
    live = monitoring.compute_figures(dataset.municipality.id, period_end=date(2023, 3, 31))
    assert (live["totals"]["c2"], live["totals"]["b2"]) == (8, 5)
    db.session.expire_all()
    again = monitoring.load_campaign(campaign.id, dataset.head)
    assert again.figures == frozen_figures and again.teachers == frozen_teachers
    assert monitoring.campaign_figures(again)["totals"]["b2"] == 3
    assert again.report_sha256 == report_hash
    assert hashlib.sha256(monitoring.report_document(again)[0]).hexdigest() == report_hash
    with pytest.raises(Conflict):
        monitoring.sign_campaign(dataset.head, campaign.id)
    with pytest.raises(Conflict):
        monitoring.update_campaign(dataset.head, campaign.id, {"recommendations": "Другое"})
    assert db.session.execute(select(func.count(StoredFile.id)).where(
        StoredFile.sha256 == report_hash)).scalar_one() == 1


def test_report_text_reads_back_from_the_docx(dataset):
    campaign = monitoring.create_campaign(dataset.head, {**PERIOD, "addressees": "Руководителям ОО",
                                                         "recommendations": "1. Обеспечить контроль.\n"
                                                                            "2. Провести семинар."})
    monitoring.sign_campaign(dataset.head, campaign.id)
    text = report_text(campaign)
    for expected in [
        "Руководителям ОО",
        "О результатах мониторинга разработки ИОМ",
        "С 27 по 31 марта 2023 года проведен мониторинг",
        "По результатам мониторинга было выявлено следующее:",
        "В диагностике «ФИОКО-2022» (ФИОКО, в сентябре 2022 года) приняли участие 8 педагогов",
        "Для 3 из 8 педагогов СОШ № 1, 2 были разработаны индивидуальные образовательные маршруты",
        "составила 37,5%",
        "рассчитывался по формуле:",
        "F2 = B2 / C2 × 100 %",
        "B2 — численность педагогических работников",
        "C2 — общая численность педагогических работников",
        "в 2022-2023 уч.г. разработаны 3 индивидуальных образовательных маршрута",
        "F2 = 3 / 8 × 100 % = 37,5 %",
        "На основании вышеизложенного рекомендовано:",
        "1. Обеспечить контроль.",
        "2. Провести семинар.",
        # The head's signature: the signer "Пользователь head" as initials and surname.
        "Начальник управления образования | h. Пользователь",
        "СОШ № 3 | 0 | 0 | —",
        "Итого | Итого | 8 | 3 | 37,5 %",
    ]:
        assert expected in text, (expected, text)


def test_campaign_access_and_validation(dataset):
    for actor in (dataset.teacher, dataset.curator, dataset.school_head):
        with pytest.raises(NotPermitted):
            monitoring.create_campaign(actor, PERIOD)
    with pytest.raises(InvalidInput):
        monitoring.create_campaign(dataset.head, {**PERIOD, "period_end": "01.03.2023"})
    with pytest.raises(InvalidInput):
        monitoring.create_campaign(dataset.head, {**PERIOD, "title": " "})
    with pytest.raises(InvalidInput):
        monitoring.create_campaign(dataset.head, {**PERIOD, "period_start": "32.03.2023"})
    campaign = monitoring.create_campaign(dataset.head, PERIOD)
    assert monitoring.load_campaign(campaign.id, dataset.curator).id == campaign.id
    with pytest.raises(NotFound):
        monitoring.load_campaign(campaign.id, dataset.teacher)
    with pytest.raises(NotPermitted):
        monitoring.sign_campaign(dataset.admin, campaign.id)
    with pytest.raises(StaleVersion):
        monitoring.update_campaign(dataset.head, campaign.id, {"recommendations": "x"}, version=campaign.version + 5)


def test_campaign_can_issue_the_order(dataset):
    campaign = monitoring.create_campaign(dataset.head, {**PERIOD, "issue_order": True})
    order = db.session.get(Order, campaign.order_id)
    assert order.kind == "monitoring" and order.title.startswith("О проведении мониторинга")
    monitoring.sign_campaign(dataset.head, campaign.id)
    assert f"№ {order.number}" in report_text(campaign)


def test_sign_counts_in_one_transaction(dataset):
    campaign = monitoring.create_campaign(dataset.head, PERIOD)
    monitoring.sign_campaign(dataset.head, campaign.id)
    assert db.session.execute(select(func.count(MonitoringCampaign.id)).where(
        MonitoringCampaign.state == "signed")).scalar_one() == 1



# --- API -------------------------------------------------------------------------------------------

def _token(client, login):
    response = client.post("/api/v1/tokens", json={"login": login, "password": "password-123"})
    assert response.status_code == 201, response.json
    return {"Authorization": f"Bearer {response.json['token']}"}


def test_api_campaign_lifecycle(client, dataset):
    head = _token(client, "head")
    created = client.post("/api/v1/monitoring/campaigns", headers=head, json={
        "title": "Мониторинг разработки ИОМ", "period_start": "2023-03-27", "period_end": "2023-03-31"})
    assert created.status_code == 201, created.json
    campaign_id = created.json["id"]
    got = client.get(f"/api/v1/monitoring/campaigns/{campaign_id}", headers=head)
    assert got.status_code == 200 and got.json["state"] == "open"
    totals = got.json["totals"]
    assert (totals["c2"], totals["b2"], totals["f2"]) == (8, 3, 37.5)
    schools = {s["name"]: (s["c2"], s["b2"], s["f2"]) for s in got.json["schools"]}
    assert schools == {"СОШ № 1": (5, 2, 40.0), "СОШ № 2": (3, 1, 33.3), "СОШ № 3": (0, 0, None)}
    assert client.get(f"/api/v1/monitoring/campaigns/{campaign_id}/report.docx", headers=head).status_code == 409
    patched = client.patch(f"/api/v1/monitoring/campaigns/{campaign_id}", headers=head,
                           json={"recommendations": "1. Продолжить.", "version": got.json["version"]})
    assert patched.status_code == 200 and patched.json["recommendations"] == "1. Продолжить."
    signed = client.post(f"/api/v1/monitoring/campaigns/{campaign_id}/sign", headers=head, json={})
    assert signed.status_code == 200 and signed.json["state"] == "signed" and signed.json["report_sha256"]
    report = client.get(signed.json["report_url"], headers=head)
    assert report.status_code == 200 and report.mimetype.endswith("wordprocessingml.document")
    assert hashlib.sha256(report.data).hexdigest() == signed.json["report_sha256"]
    assert client.post(f"/api/v1/monitoring/campaigns/{campaign_id}/sign", headers=head, json={}).status_code == 409
    listed = client.get("/api/v1/monitoring/campaigns", headers=head)
    assert listed.status_code == 200 and listed.json["items"][0]["id"] == campaign_id


def test_api_campaign_errors(client, dataset):
    head = _token(client, "head")
    bad = client.post("/api/v1/monitoring/campaigns", headers=head,
                      json={"title": "М", "period_start": "2023-03-31", "period_end": "2023-03-01"})
    assert bad.status_code == 422 and bad.json["error"] and bad.json["message"]
    missing = client.post("/api/v1/monitoring/campaigns", headers=head, json={"title": "М"})
    assert missing.status_code == 422
    teacher = client.post("/api/v1/monitoring/campaigns", headers=_token(client, "teacher"), json={
        "title": "М", "period_start": "2023-03-27", "period_end": "2023-03-31"})
    assert teacher.status_code == 403
    assert client.get("/api/v1/monitoring/campaigns/99999", headers=head).status_code == 404
    assert client.get("/api/v1/monitoring/campaigns/99999999999999", headers=head).status_code == 404
    assert db.session.execute(select(func.count(MonitoringCampaign.id))).scalar_one() == 0
    created = client.post("/api/v1/monitoring/campaigns", headers=head, json={
        "title": "М", "period_start": "2023-03-27", "period_end": "2023-03-31"}).json
    admin_sign = client.post(f"/api/v1/monitoring/campaigns/{created['id']}/sign", headers=_token(client, "admin"),
                             json={})
    assert admin_sign.status_code == 403
    stale = client.post(f"/api/v1/monitoring/campaigns/{created['id']}/sign", headers=head,
                        json={"version": created["version"] + 1})
    assert stale.status_code == 409


# --- web pages ---------------------------------------------------------------------------------------

def test_web_campaign_pages(client, auth, dataset):
    auth.login("head")
    assert client.get("/monitoring/new").status_code == 200
    bad = client.post("/monitoring/new", data={"title": "М", "period_start": "2023-03-31", "period_end": "2023-03-01"})
    assert bad.status_code == 422 and "раньше" in bad.get_data(as_text=True)
    created = client.post("/monitoring/new", data={
        "title": "Мониторинг разработки ИОМ", "period_start": "2023-03-27", "period_end": "2023-03-31",
        "diagnostic_id": "", "addressees": "Руководителям ОО", "recommendations": "1. Контроль."})
    assert created.status_code == 302
    campaign = db.session.execute(select(MonitoringCampaign)).scalar_one()
    page = client.get(f"/monitoring/{campaign.id}").get_data(as_text=True)
    assert 'id="total-f2">37,5 %' in page and "F2 = 3 / 8 × 100 % = 37,5 %" in page
    assert "<svg" in page and 'id="monitoring-f2"' in page and "СОШ № 3" in page and "—" in page
    assert "cdn" not in page.lower()
    version = campaign.version
    edited = client.post(f"/monitoring/{campaign.id}/edit", data={
        "version": version, "addressees": "Руководителям ОО", "recommendations": "1. Новое."})
    assert edited.status_code == 302
    stale = client.post(f"/monitoring/{campaign.id}/edit", data={
        "version": version, "addressees": "x", "recommendations": "Старое"})
    assert stale.status_code == 409
    db.session.expire_all()
    campaign = db.session.get(MonitoringCampaign, campaign.id)
    assert campaign.recommendations == "1. Новое."
    signed = client.post(f"/monitoring/{campaign.id}/sign", data={"version": campaign.version})
    assert signed.status_code == 302
    report = client.get(f"/monitoring/{campaign.id}/report.docx")
    assert report.status_code == 200 and report.data[:2] == b"PK"
    db.session.expire_all()
    assert hashlib.sha256(report.data).hexdigest() == db.session.get(MonitoringCampaign, campaign.id).report_sha256
    page = client.get(f"/monitoring/{campaign.id}").get_data(as_text=True)
    assert "Подписан" in page and 'id="sign-form"' not in page and 'id="edit-form"' not in page
    assert client.get("/monitoring/").status_code == 200


@pytest.mark.parametrize("login, index, new", [("teacher", 403, 403), ("curator", 200, 403), ("director1", 200, 403),
                                               ("head", 200, 200), ("admin", 200, 200)])
def test_web_campaign_access(client, auth, district, login, index, new):
    campaign = monitoring.create_campaign(district.head, PERIOD)
    auth.login(login)
    assert client.get("/monitoring/").status_code == index
    assert client.get("/monitoring/new").status_code == new
    # A teacher is refused (by role, or as if the campaign did not exist) and sees nothing of it.
    shown = client.get(f"/monitoring/{campaign.id}")
    if login == "teacher":
        assert shown.status_code in {403, 404} and campaign.title not in shown.get_data(as_text=True)
    else:
        assert shown.status_code == 200
    if login != "head":
        assert client.post(f"/monitoring/{campaign.id}/sign", data={}).status_code in {403, 404}
        db.session.expire_all()
        assert db.session.get(MonitoringCampaign, campaign.id).state == "open"


# --- the demo district ------------------------------------------------------------------------------

def test_demo_reproduces_seed_000(app):
    from models import Route, User
    from workflow import demo

    demo.load()
    head = db.session.execute(select(User).where(User.login == "ezhkova")).scalar_one()
    campaign = db.session.execute(select(MonitoringCampaign)).scalar_one()
    assert (campaign.period_start, campaign.period_end) == (date(2023, 3, 27), date(2023, 3, 31))
    routes_from_diagnostic = db.session.execute(
        select(func.count(Route.id)).where(Route.diagnostic_id.isnot(None))).scalar_one()
    assert routes_from_diagnostic == 52
    signed = monitoring.sign_campaign(head, campaign.id)
    totals = signed.figures["totals"]
    assert (totals["c2"], totals["b2"], totals["f2"], totals["routes_developed"]) == (52, 52, 100.0, 52)
    schools = signed.figures["schools"]
    assert len(schools) == 17 and all(s["f2"] == 100.0 for s in schools)
    assert sum(s["c2"] for s in schools) == 52
    assert {p["full_name"] for p in signed.teachers["c2"]} == {p["full_name"] for p in signed.teachers["b2"]}
    text = report_text(signed)
    for expected in ["Начальнику методического отдела МКУ ЦПО МО Динской район", "Руководителям ОО",
                     "С 27 по 31 марта 2023 года проведен мониторинг",
                     "приняли участие 52 педагога",
                     "Для всех 52 педагогов СОШ № 1, 2, 3, 4, 5, 6, 10, 13, 14, 20, 21, 29, 30, 35, 37, 38, 53",
                     "составила 100%", "F2 = 52 / 52 × 100 % = 100 %",
                     "разработаны 52 индивидуальных образовательных маршрута",
                     "в сентябре 2022 года", "взять на контроль",
                     "Начальник управления образования МО Динской район | М.А. Ежкова"]:
        assert expected in text, expected
    # Every diagnosed teacher's deficits are the areas their route addresses; the catalogue covers them.
    from models import DiagnosticResult, ResourceEntry
    assert db.session.execute(select(func.count(DiagnosticResult.id)).where(
        DiagnosticResult.diagnostic_id == campaign.diagnostic_id)).scalar_one() == 52 * 6
    assert db.session.execute(select(func.count(ResourceEntry.id))).scalar_one() >= 10
    # The drafts of teachers 53–56 show the deficits of their later diagnostic with catalogue entries.
    from workflow import resources
    draft = db.session.execute(select(Route).join(Route.teacher).where(User.login == "teacher53")).scalar_one()
    choices = resources.deficit_choices(draft)
    assert len(choices) == 2 and all(choice["entries"] for choice in choices)


def test_signed_campaign_cannot_be_changed_even_directly(dataset):
    from models.diagnostics import SignedCampaignError

    campaign = monitoring.sign_campaign(dataset.head, monitoring.create_campaign(dataset.head, PERIOD).id)
    campaign.figures = {"totals": {"c2": 1, "b2": 1, "f2": 100.0}}
    with pytest.raises(SignedCampaignError):
        db.session.commit()
    db.session.rollback()
    db.session.delete(db.session.get(MonitoringCampaign, campaign.id))
    with pytest.raises(SignedCampaignError):
        db.session.commit()
    db.session.rollback()
    assert db.session.get(MonitoringCampaign, campaign.id).figures["totals"]["c2"] == 8
