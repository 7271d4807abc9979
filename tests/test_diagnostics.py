"""Diagnostic results import, deficits, routes drafted from a diagnostic, the resource map."""
import io
import zipfile
from datetime import date
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import func, select

from models import (
    Diagnostic, DiagnosticImport, DiagnosticResult, ResourceEntry, Route, StoredFile, db,
)
from workflow import accounts, diagnostics, resources, service, spreadsheets
from workflow.errors import Conflict, InvalidInput, NotPermitted
from workflow.spreadsheets import ImportFailed

DATA = Path(__file__).parent / "data" / "diagnostics"
GOLDEN = sorted(p.name for p in DATA.iterdir() if p.name.startswith("results"))
TITLE = "Оценка предметных и методических компетенций"
HEADER = "ФИО;Школа;E-mail;Диагностика;Дата;Компетенция;Балл;Дефицит\r\n"
ROW = "Иванова Анна Петровна;СОШ № 1;;Оценка предметных и методических компетенций;15.09.2022;{c};{s};{d}\r\n"

# The rows every golden file holds, as (teacher, diagnostic, date, competency, score, deficit).
EXPECTED = sorted([
    ("ivanova", TITLE, date(2022, 9, 15), "Предметные компетенции", Decimal("4.5"), False),
    ("ivanova", TITLE, date(2022, 9, 15), "Методические компетенции", Decimal("2.25"), True),
    ("ivanova", TITLE, date(2022, 9, 15), "Формирование функциональной грамотности обучающихся", Decimal("1"), True),
    ("petrov", TITLE, date(2022, 9, 15), "Предметные компетенции", Decimal("3.75"), False),
    ("petrov", TITLE, date(2022, 9, 15), "Методические компетенции", Decimal("5"), False),
    ("petrov", TITLE, date(2022, 9, 15), "Формирование функциональной грамотности обучающихся", Decimal("2.5"), True),
    ("teacher", TITLE, date(2022, 9, 15), "Предметные компетенции", Decimal("2"), True),
    ("teacher", TITLE, date(2022, 9, 15), "Методические компетенции", Decimal("4"), False),
])


@pytest.fixture
def people(district):
    """Two more teachers with real names; Петров is matched by e-mail (the file names his school oddly)."""
    ivanova = accounts.create_user("ivanova", role="teacher", full_name="Иванова Анна Петровна",
                                   password="password-123", school=district.school,
                                   municipality=district.municipality)
    petrov = accounts.create_user("petrov", role="teacher", full_name="Петров Сергей Иванович",
                                  password="password-123", school=district.other_school,
                                  municipality=district.municipality, email="Petrov@example.ru")
    accounts.assign_curator(ivanova, district.curator)
    accounts.assign_curator(petrov, district.curator)
    district.ivanova, district.petrov = ivanova, petrov
    return district


def stored_rows():
    rows = db.session.execute(
        select(DiagnosticResult).join(DiagnosticResult.teacher).join(DiagnosticResult.diagnostic)
    ).scalars().all()
    return sorted((r.teacher.login, r.diagnostic.title, r.diagnostic.held_on, r.competency,
                   Decimal(r.score).normalize(), r.is_deficit) for r in rows)


def normalized(expected):
    return sorted((*r[:4], r[4].normalize(), r[5]) for r in expected)


def counts():
    return (db.session.execute(select(func.count(Diagnostic.id))).scalar_one(),
            db.session.execute(select(func.count(DiagnosticResult.id))).scalar_one(),
            db.session.execute(select(func.count(DiagnosticImport.id))).scalar_one())


def run(data, district, **kwargs):
    kwargs.setdefault("actor", district.admin)
    return diagnostics.import_results(data, **kwargs)


# --- golden files -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", GOLDEN)
def test_golden_files_produce_identical_rows(people, name):
    data = (DATA / name).read_bytes()
    threshold = "3" if "threshold" in name else None
    preview = run(data, people, dry_run=True, threshold=threshold, file_name=name)
    assert preview["dry_run"] is True and preview["rows"] == 8 and preview["created"] == 8
    assert preview["teachers"] == 3 and preview["deficits"] == 4
    assert counts() == (0, 0, 0), "a dry run imports nothing"
    summary = run(data, people, threshold=threshold, file_name=name)
    assert summary["created"] == 8 and summary["diagnostics"][0]["new"] is True
    assert stored_rows() == normalized(EXPECTED)
    diagnostic = db.session.execute(select(Diagnostic)).scalar_one()
    assert diagnostic.held_on == date(2022, 9, 15) and diagnostic.title == TITLE


def test_every_golden_file_matches_the_first(people):
    """Importing all golden files one after another changes nothing after the first."""
    run((DATA / GOLDEN[0]).read_bytes(), people, threshold="3")
    first = stored_rows()
    for name in GOLDEN[1:]:
        summary = run((DATA / name).read_bytes(), people, threshold="3")
        assert summary["unchanged"] == 8 and summary["created"] == summary["updated"] == 0, name
        assert stored_rows() == first


def test_reimport_changes_nothing(people):
    data = (DATA / "results_utf8bom_semicolon.csv").read_bytes()
    run(data, people)
    before = counts()
    stamps = db.session.execute(select(DiagnosticResult.id, DiagnosticResult.updated_at)).all()
    summary = run(data, people)
    assert summary == {**summary, "created": 0, "updated": 0, "unchanged": 8}
    assert counts() == before
    assert db.session.execute(select(DiagnosticResult.id, DiagnosticResult.updated_at)).all() == stamps


def test_changed_score_updates_the_stored_result(people):
    run((DATA / "results_utf8_comma.csv").read_bytes(), people)
    data = (HEADER + ROW.format(c="Предметные компетенции", s="1,5", d="да")).encode()
    summary = run(data, people)
    assert (summary["created"], summary["updated"]) == (0, 1)
    result = db.session.execute(select(DiagnosticResult).where(
        DiagnosticResult.teacher_id == people.ivanova.id,
        DiagnosticResult.competency == "Предметные компетенции")).scalar_one()
    assert result.score == Decimal("1.5") and result.is_deficit is True


def test_openpyxl_reads_through_defusedxml():
    assert openpyxl.DEFUSEDXML is True


# --- bad files -------------------------------------------------------------------------------------

def _xlsx(rows):
    workbook = openpyxl.Workbook()
    for row in rows:
        workbook.active.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _zip_bomb():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (80 * 1024 * 1024))
    return buffer.getvalue()


def _xml_bomb():
    """A real workbook whose workbook.xml declares entities (billion laughs)."""
    source = zipfile.ZipFile(io.BytesIO((DATA / "results.xlsx").read_bytes()))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            content = source.read(info)
            if info.filename == "xl/workbook.xml":
                body = content.decode().split("?>", 1)[-1]
                content = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                           '<!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>' + body).encode()
            archive.writestr(info.filename, content)
    return buffer.getvalue()


def _docx_like():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("word/document.xml", "<document/>")
    return buffer.getvalue()


GOOD = ROW.format(c="Предметные компетенции", s="4,5", d="нет")
BAD_FILES = {
    "empty": (b"", None, None, "Файл пуст"),
    "blank lines": (b"\r\n \r\n", None, None, "Файл пуст"),
    "header only": (HEADER.encode(), None, None, "нет строк"),
    "utf-16": ((HEADER + GOOD).encode("utf-16"), None, None, "кодировка"),
    "koi8-r": ((HEADER + GOOD).replace("№", "N").encode("koi8_r"), None, None, "KOI8-R"),
    "undecodable": (HEADER.encode("cp1251") + b"\x98\x98;\r\n", None, None, "кодировка"),
    "pdf": (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj", None, None, "не является таблицей"),
    "png": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", None, None, "не является таблицей"),
    "xls": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, None, None, "XLS"),
    "docx": (_docx_like(), None, None, "не является таблицей"),
    "broken zip": (b"PK\x03\x04garbage", None, None, "не является таблицей"),
    "zip bomb": (_zip_bomb(), None, None, "после распаковки слишком велик"),
    "xml bomb": (_xml_bomb(), None, None, "XML"),
    "missing column": ("ФИО;Школа;Диагностика;Дата;Балл\r\nИванова Анна Петровна;СОШ № 1;Д;15.09.2022;4\r\n".encode(),
                       1, "Компетенция", "Нет обязательного столбца «Компетенция»"),
    "no score or deficit": ("ФИО;Школа;Диагностика;Дата;Компетенция\r\nИ;СОШ № 1;Д;15.09.2022;К\r\n".encode(),
                            1, "Балл", "«Балл» или «Дефицит»"),
    "unknown teacher": ((HEADER + GOOD + ROW.replace("Иванова Анна Петровна", "Сидорова Мария Ивановна").format(
        c="Предметные компетенции", s="3", d="нет")).encode(), 3, "ФИО", "Сидорова Мария Ивановна"),
    "unknown school": ((HEADER + ROW.replace("СОШ № 1", "СОШ № 99").format(c="К", s="3", d="нет")).encode(),
                       2, "Школа", "СОШ № 99"),
    "duplicate row": ((HEADER + GOOD + GOOD).encode(), 3, "Компетенция", "Повторяющаяся строка"),
    "text in score": ((HEADER + ROW.format(c="К", s="четыре", d="нет")).encode(), 2, "Балл", "не число"),
    "bad date": ((HEADER + GOOD.replace("15.09.2022", "31.02.2022")).encode(), 2, "Дата", "Неверная дата"),
    "bad flag": ((HEADER + ROW.format(c="К", s="3", d="может быть")).encode(), 2, "Дефицит", "«да» или «нет»"),
    "no threshold": (("ФИО;Школа;Диагностика;Дата;Компетенция;Балл\r\n"
                      "Иванова Анна Петровна;СОШ № 1;Д;15.09.2022;К;3\r\n").encode(), 2, "Балл", "порог"),
    "xlsx text in score": (_xlsx([["ФИО", "Школа", "Диагностика", "Дата", "Компетенция", "Балл", "Дефицит"],
                                  ["Иванова Анна Петровна", "СОШ № 1", "Д", date(2022, 9, 15), "К", "н/д", "да"]]),
                           2, "Балл", "не число"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_file_gives_its_error_and_imports_nothing(people, case):
    data, row, column, message = BAD_FILES[case]
    # A good row of an earlier diagnostic must survive untouched.
    run((DATA / "results_utf8_comma.csv").read_bytes(), people)
    before, rows_before = counts(), stored_rows()
    with pytest.raises(ImportFailed) as caught:
        run(data, people)
    errors = caught.value.errors
    assert errors and all(set(e) == {"row", "column", "message"} for e in errors)
    assert any(message in e["message"] and e["row"] == row and e["column"] == column for e in errors), errors
    assert counts() == before and stored_rows() == rows_before
    # A dry run reports the same errors.
    with pytest.raises(ImportFailed):
        run(data, people, dry_run=True)


def test_all_errors_are_reported_at_once(people):
    data = (HEADER + ROW.format(c="К", s="x", d="нет") + GOOD
            + ROW.replace("Иванова Анна Петровна", "Неизвестный Н Н").format(c="К", s="3", d="нет")).encode()
    with pytest.raises(ImportFailed) as caught:
        run(data, people)
    assert [(e["row"], e["column"]) for e in caught.value.errors] == [(2, "Балл"), (4, "ФИО")]
    assert counts() == (0, 0, 0)


def test_one_bad_row_rolls_back_all_rows(people):
    data = (HEADER + GOOD + ROW.format(c="Методические компетенции", s="abc", d="да")).encode()
    with pytest.raises(ImportFailed):
        run(data, people)
    assert counts() == (0, 0, 0)


def test_oversized_file_is_rejected(people, monkeypatch):
    monkeypatch.setattr(spreadsheets, "MAX_FILE_BYTES", 100)
    with pytest.raises(ImportFailed) as caught:
        run((DATA / "results_utf8_comma.csv").read_bytes(), people)
    assert "больше" in caught.value.errors[0]["message"]


def test_zip_bomb_is_rejected_before_parsing(people, monkeypatch):
    monkeypatch.setattr(openpyxl, "load_workbook", lambda *a, **k: pytest.fail("parsed a zip bomb"))
    with pytest.raises(ImportFailed):
        run(_zip_bomb(), people)


def test_email_must_belong_to_the_named_teacher(people):
    data = (HEADER + ROW.replace(";;", ";Petrov@example.ru;").format(c="К", s="3", d="нет")).encode()
    with pytest.raises(ImportFailed) as caught:
        run(data, people)
    assert caught.value.errors[0]["column"] == "E-mail"


def test_conflicting_threshold_is_reported(people):
    run((DATA / "results_threshold_semicolon.csv").read_bytes(), people, threshold="3")
    with pytest.raises(ImportFailed) as caught:
        run((DATA / "results_threshold_semicolon.csv").read_bytes(), people, threshold="3,5")
    assert "порог" in caught.value.errors[0]["message"]


def test_only_importers_may_import(people):
    data = (DATA / "results_utf8_comma.csv").read_bytes()
    for actor in (people.teacher, people.school_head):
        with pytest.raises(NotPermitted):
            diagnostics.import_results(data, actor=actor)
    assert diagnostics.import_results(data, actor=people.curator)["created"] == 8


def test_templates_are_importable_formats(people):
    for data in (diagnostics.template_csv(), diagnostics.template_xlsx()):
        table = spreadsheets.read_table(data, diagnostics.KNOWN_HEADERS)
        assert [spreadsheets.cell_text(c) for c in table.header] == diagnostics.RUSSIAN_HEADERS
        assert len(table.rows) == 1
    # The example row names a teacher of SOSh No. 1, so it imports once that teacher exists.
    assert run(diagnostics.template_xlsx(), people)["created"] == 1


def test_cell_parsers():
    assert spreadsheets.parse_decimal("4,5") == Decimal("4.5")
    assert spreadsheets.parse_decimal("1 234,50") == Decimal("1234.50")
    assert spreadsheets.parse_decimal("4,5,1") is None
    assert spreadsheets.parse_date("44819") == date(2022, 9, 15)
    assert spreadsheets.parse_date(44819) == date(2022, 9, 15)
    assert spreadsheets.parse_date("15.09.2022 0:00:00") == date(2022, 9, 15)
    assert spreadsheets.parse_date("2022-09-15") == date(2022, 9, 15)
    assert spreadsheets.parse_date("5") is None
    assert spreadsheets.parse_flag("Да") is True and spreadsheets.parse_flag("НЕТ") is False
    assert spreadsheets.parse_flag("возможно") is None


# --- deficits and routes drafted from a diagnostic ---------------------------------------------------

def test_deficits_visible_to_teacher_curator_and_heads_only(people):
    run((DATA / "results_utf8_comma.csv").read_bytes(), people)
    ivanova = people.ivanova
    seen = diagnostics.teacher_deficits(ivanova, ivanova)
    assert [r.competency for r in seen["deficits"]] == [
        "Методические компетенции", "Формирование функциональной грамотности обучающихся"]
    assert seen["history"][0]["deficits"] == 2 and seen["history"][0]["results"] == 3
    for viewer in (people.curator, people.admin, people.head, people.school_head):
        assert diagnostics.teacher_deficits(viewer, ivanova) is not None
    for viewer in (people.other_curator, people.other_school_head, people.other_teacher):
        assert diagnostics.teacher_deficits(viewer, ivanova) is None


def test_route_from_diagnostic_has_one_activity_per_deficit(people):
    run((DATA / "results_utf8_comma.csv").read_bytes(), people)
    entry = resources.create_entry(people.curator, {
        "title": "Функциональная грамотность: от теории к практике", "provider": "ИРО", "kind": "course",
        "level": "regional", "direction": "professional", "format": "online", "hours": "36",
        "annotation": "Приёмы формирования читательской грамотности",
        "competencies": "Формирование функциональной грамотности обучающихся"})
    route = diagnostics.draft_route_from_diagnostic(people.ivanova)
    diagnostic = db.session.execute(select(Diagnostic)).scalar_one()
    assert route.diagnostic_id == diagnostic.id and route.state == "drafted"
    assert [a.deficit for a in route.activities] == [
        "Методические компетенции", "Формирование функциональной грамотности обучающихся"]
    filled = route.activities[1]
    assert entry.title in filled.forms and filled.direction == "professional"
    assert filled.result_form == "Удостоверение о повышении квалификации"
    assert route.activities[0].forms and route.activities[0].deadline is not None
    assert "Методические компетенции" in route.request and route.period_start and route.period_end
    # The draft can go to review and be approved like any other.
    service.apply_transition(route.id, "request_review", people.ivanova)
    assert service.apply_transition(route.id, "approve", people.curator).state == "curator_approved"


def test_curator_drafts_for_own_teacher_only(people):
    run((DATA / "results_utf8_comma.csv").read_bytes(), people)
    route = diagnostics.draft_route_from_diagnostic(people.curator, people.petrov.id)
    assert route.teacher_id == people.petrov.id and len(route.activities) == 1
    with pytest.raises(NotPermitted):
        diagnostics.draft_route_from_diagnostic(people.other_curator, people.ivanova.id)


def test_route_from_diagnostic_without_results_is_a_conflict(people):
    with pytest.raises(Conflict) as caught:
        diagnostics.draft_route_from_diagnostic(people.ivanova)
    assert caught.value.status == 409 and "нет результатов диагностики" in caught.value.message
    assert db.session.execute(select(func.count(Route.id))).scalar_one() == 0


def test_second_open_route_from_same_diagnostic_is_a_conflict(people):
    run((DATA / "results_utf8_comma.csv").read_bytes(), people)
    diagnostics.draft_route_from_diagnostic(people.ivanova)
    with pytest.raises(Conflict):
        diagnostics.draft_route_from_diagnostic(people.ivanova)


# --- resource map -----------------------------------------------------------------------------------

ENTRY = {"title": "Семинар по оцениванию", "provider": "МКУ ЦПО", "kind": "семинар", "level": "Муниципальный",
         "direction": "Методическое", "format": "очно", "starts_on": "10.10.2022", "ends_on": "10.10.2022",
         "hours": "4", "annotation": "Критерии оценивания", "competencies": "Методические компетенции; Оценивание"}


def test_resource_entry_crud_and_matching(people):
    entry = resources.create_entry(people.curator, ENTRY)
    assert (entry.kind, entry.level, entry.direction, entry.format, entry.hours) == (
        "seminar", "municipal", "methodical", "in_person", 4)
    assert entry.competency_names == ["Методические компетенции", "Оценивание"]
    found = resources.matching_entries(["методические  компетенции"], people.municipality.id)
    assert [e.id for e in found["методические компетенции"]] == [entry.id]
    resources.update_entry(people.curator, entry.id, {**ENTRY, "competencies": "Оценивание", "hours": ""})
    assert resources.matching_entries(["Методические компетенции"], people.municipality.id) == {}
    with pytest.raises(InvalidInput):
        resources.create_entry(people.curator, {**ENTRY, "kind": "поход"})
    with pytest.raises(InvalidInput):
        resources.create_entry(people.curator, {**ENTRY, "competencies": ""})
    with pytest.raises(NotPermitted):
        resources.create_entry(people.teacher, ENTRY)
    resources.delete_entry(people.curator, entry.id)
    assert db.session.execute(select(func.count(ResourceEntry.id))).scalar_one() == 0


def test_choosing_an_entry_fills_an_activity(people):
    run((DATA / "results_utf8_comma.csv").read_bytes(), people)
    entry = resources.create_entry(people.curator, ENTRY)
    route = diagnostics.draft_route_from_diagnostic(people.ivanova)
    choices = resources.deficit_choices(service.load_route(route.id, people.curator))
    methodical = next(c for c in choices if c["deficit"] == "Методические компетенции")
    assert [e.id for e in methodical["entries"]] == [entry.id] and methodical["covered"]
    route, activity = resources.add_activity_from_entry(route.id, people.curator, entry.id,
                                                        "Методические компетенции", route.version)
    assert len(route.activities) == 3 and activity.deficit == "Методические компетенции"
    # The seminar is over before the route's period starts, so the deadline falls back to the period's end.
    assert "Семинар по оцениванию" in activity.forms and activity.deadline == route.period_end


def test_resource_import_all_or_nothing_and_idempotent(people):
    header = ";".join(resources.TEMPLATE_HEADERS) + "\r\n"
    good = ("Курс А;ИРО;Курсы повышения квалификации;Региональный;Профессиональное;Дистанционно;01.10.2022;"
            "30.11.2022;36;Аннотация;Предметные компетенции|Методические компетенции;https://iro23.ru\r\n")
    bad = "Курс Б;ИРО;Поход;Региональный;Профессиональное;;;;;;К;\r\n"
    with pytest.raises(ImportFailed) as caught:
        resources.import_entries((header + good + bad).encode("cp1251"), people.curator)
    assert caught.value.errors == [{"row": 3, "column": "Вид", "message": caught.value.errors[0]["message"]}]
    assert db.session.execute(select(func.count(ResourceEntry.id))).scalar_one() == 0
    first = resources.import_entries((header + good).encode("cp1251"), people.curator)
    again = resources.import_entries((header + good).encode("utf-8"), people.curator)
    assert (first["created"], again["created"], again["unchanged"]) == (1, 0, 1)
    entry = db.session.execute(select(ResourceEntry)).scalar_one()
    assert entry.competency_names == ["Предметные компетенции", "Методические компетенции"]
    assert resources.import_entries(resources.template_csv(), people.curator)["created"] == 1


def test_upload_is_kept_for_its_uploader_only(people):
    stored = diagnostics.store_upload(b"data", "x.csv", people.curator)
    assert diagnostics.load_upload(stored.id, people.curator).id == stored.id
    with pytest.raises(Exception):
        diagnostics.load_upload(stored.id, people.other_curator)
    assert db.session.get(StoredFile, stored.id).sha256


# --- command line ----------------------------------------------------------------------------------

def test_cli_import_dry_run_then_import(app, people, tmp_path):
    runner = app.test_cli_runner()
    path = DATA / "results_cp1251_semicolon.csv"
    result = runner.invoke(args=["diagnostics", "import", str(path), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "ничего не импортировано" in result.output and "строк 8" in result.output
    assert counts() == (0, 0, 0)
    result = runner.invoke(args=["diagnostics", "import", str(path)])
    assert result.exit_code == 0 and "новых 8" in result.output
    again = runner.invoke(args=["diagnostics", "import", str(path)])
    assert again.exit_code == 0 and "без изменений 8" in again.output
    assert stored_rows() == normalized(EXPECTED)


@pytest.mark.parametrize("content, expected", [
    (None, "не найден"),
    (b"", "Файл пуст"),
    ((HEADER + GOOD + GOOD).encode(), "строка 3, столбец «Компетенция»: Повторяющаяся строка"),
])
def test_cli_errors_are_one_line_without_traceback(app, people, tmp_path, content, expected):
    path = tmp_path / "results.csv"
    if content is not None:
        path.write_bytes(content)
    result = app.test_cli_runner().invoke(args=["diagnostics", "import", str(path)])
    assert result.exit_code != 0
    assert expected in result.output and "Traceback" not in result.output
    assert all(line.startswith(("Ошибка:", "Файл не импортирован")) for line in result.output.splitlines())
    assert counts() == (0, 0, 0)


# --- API -------------------------------------------------------------------------------------------

def _token(client, login):
    response = client.post("/api/v1/tokens", json={"login": login, "password": "password-123"})
    assert response.status_code == 201, response.json
    return {"Authorization": f"Bearer {response.json['token']}"}


def _upload(client, headers, data, name="results.csv", **form):
    return client.post("/api/v1/diagnostics/imports", headers=headers,
                       data={"file": (io.BytesIO(data), name), **form}, content_type="multipart/form-data")


def test_api_import_dry_run_then_commit(client, people):
    headers = _token(client, "curator")
    data = (DATA / "results.xlsx").read_bytes()
    preview = _upload(client, headers, data, "results.xlsx", dry_run="true")
    assert preview.status_code == 200, preview.json
    assert preview.json["dry_run"] is True and preview.json["created"] == 8
    assert counts() == (0, 0, 0)
    done = _upload(client, headers, data, "results.xlsx")
    assert done.status_code == 200 and done.json["created"] == 8 and done.json["dry_run"] is False
    again = _upload(client, headers, data, "results.xlsx")
    assert again.json["unchanged"] == 8
    assert stored_rows() == normalized(EXPECTED)


@pytest.mark.parametrize("case", ["duplicate row", "text in score", "unknown teacher", "empty", "pdf", "zip bomb"])
def test_api_import_bad_file_is_422_with_errors(client, people, case):
    data, row, column, message = BAD_FILES[case]
    response = _upload(client, _token(client, "admin"), data)
    assert response.status_code == 422
    body = response.json
    assert set(body) == {"error", "message", "errors"} and body["message"]
    assert any(message in e["message"] and e["row"] == row and e["column"] == column for e in body["errors"])
    assert counts() == (0, 0, 0)


def test_api_import_requires_file_role_and_token(client, people):
    assert _upload(client, {}, b"x").status_code == 401
    assert _upload(client, _token(client, "teacher"), (DATA / "results.xlsx").read_bytes()).status_code == 403
    response = client.post("/api/v1/diagnostics/imports", headers=_token(client, "admin"), data={},
                           content_type="multipart/form-data")
    assert response.status_code == 422 and response.json["errors"][0]["column"] == "file"
    bad_flag = _upload(client, _token(client, "admin"), (DATA / "results.xlsx").read_bytes(), dry_run="maybe")
    assert bad_flag.status_code == 422 and counts() == (0, 0, 0)


def test_api_route_from_diagnostic(client, people):
    diagnostics.import_results((DATA / "results_utf8_comma.csv").read_bytes(), actor=people.admin)
    created = client.post("/api/v1/routes", headers=_token(client, "ivanova"), json={"from_diagnostic": True})
    assert created.status_code == 201, created.json
    assert [a["deficit"] for a in created.json["activities"]] == [
        "Методические компетенции", "Формирование функциональной грамотности обучающихся"]
    assert created.json["diagnostic_id"] is not None
    assert db.session.get(Route, created.json["id"]).diagnostic_id == created.json["diagnostic_id"]
    by_curator = client.post("/api/v1/routes", headers=_token(client, "curator"),
                             json={"from_diagnostic": True, "teacher_id": people.petrov.id})
    assert by_curator.status_code == 201 and by_curator.json["teacher"]["id"] == people.petrov.id
    none = client.post("/api/v1/routes", headers=_token(client, "teacher2"), json={"from_diagnostic": True})
    assert none.status_code == 409 and "диагностики" in none.json["message"]
    foreign = client.post("/api/v1/routes", headers=_token(client, "curator2"),
                          json={"from_diagnostic": True, "teacher_id": people.ivanova.id})
    assert foreign.status_code == 403


# --- web pages ---------------------------------------------------------------------------------------

def _post_file(client, url, data, name="results.csv", follow_redirects=False, **form):
    return client.post(url, data={"file": (io.BytesIO(data), name), **form}, content_type="multipart/form-data",
                       follow_redirects=follow_redirects)


def test_web_import_preview_then_confirm(client, auth, people):
    auth.login("curator")
    page = client.get("/diagnostics/import")
    assert page.status_code == 200 and "Скачать шаблон XLSX" in page.get_data(as_text=True)
    preview = _post_file(client, "/diagnostics/import", (DATA / "results_cp1251_semicolon.csv").read_bytes())
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200 and "Файл прочитан без ошибок" in html and "Иванова Анна Петровна" in html
    assert counts() == (0, 0, 0), "the preview imports nothing"
    upload_id = db.session.execute(select(StoredFile.id).order_by(StoredFile.id.desc())).scalars().first()
    done = client.post("/diagnostics/import/confirm", data={"upload_id": str(upload_id)}, follow_redirects=True)
    assert done.status_code == 200 and "Импорт завершён" in done.get_data(as_text=True)
    assert stored_rows() == normalized(EXPECTED)
    assert db.session.execute(select(DiagnosticImport.file_id)).scalar_one() == upload_id
    # Somebody else's upload cannot be confirmed.
    auth.logout()
    auth.login("curator2")
    assert client.post("/diagnostics/import/confirm", data={"upload_id": str(upload_id)}).status_code == 404


def test_web_import_errors_are_listed_and_nothing_imported(client, auth, people):
    auth.login("admin")
    data, *_ = BAD_FILES["duplicate row"]
    response = _post_file(client, "/diagnostics/import", data)
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "Файл не импортирован" in html and "Повторяющаяся строка" in html
    assert counts() == (0, 0, 0)
    assert db.session.execute(select(func.count(StoredFile.id))).scalar_one() == 0


@pytest.mark.parametrize("login, status", [("teacher", 403), ("director1", 403), ("curator", 200), ("head", 200)])
def test_web_import_access(client, auth, people, login, status):
    auth.login(login)
    assert client.get("/diagnostics/import").status_code == status
    assert client.get("/diagnostics/").status_code == status


def test_web_template_downloads(client, auth, people):
    auth.login("curator")
    xlsx = client.get("/diagnostics/import/template.xlsx")
    csv_file = client.get("/diagnostics/import/template.csv")
    assert xlsx.status_code == csv_file.status_code == 200
    assert xlsx.data == diagnostics.template_xlsx() or xlsx.data[:2] == b"PK"
    assert csv_file.data.startswith(b"\xef\xbb\xbf") and "ФИО;Школа".encode() in csv_file.data


def test_web_profile_shows_deficits_and_drafts_a_route(client, auth, people):
    diagnostics.import_results((DATA / "results_utf8_comma.csv").read_bytes(), actor=people.admin)
    auth.login("curator")
    page = client.get(f"/teachers/{people.ivanova.id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Результаты диагностики профессиональных компетенций" in html
    assert "Формирование функциональной грамотности обучающихся" in html and "Создать маршрут по результатам" in html
    overview = client.get("/diagnostics/teachers").get_data(as_text=True)
    assert "Иванова Анна Петровна" in overview and "Петров Сергей Иванович" in overview
    created = client.post("/diagnostics/routes/new", data={"teacher_id": people.ivanova.id})
    assert created.status_code == 302
    route = db.session.execute(select(Route).where(Route.teacher_id == people.ivanova.id)).scalar_one()
    assert route.diagnostic_id is not None and created.headers["Location"].endswith(f"/routes/{route.id}")
    # Another curator sees neither the deficits nor the button.
    auth.logout()
    auth.login("curator2")
    other = client.get(f"/teachers/{people.ivanova.id}").get_data(as_text=True)
    assert "Результаты диагностики профессиональных компетенций" not in other


def test_web_route_from_diagnostic_without_results_says_why(client, auth, people):
    auth.login("teacher")
    response = client.post("/diagnostics/routes/new", follow_redirects=True)
    assert "нет результатов диагностики" in response.get_data(as_text=True)
    assert db.session.execute(select(func.count(Route.id))).scalar_one() == 0


def test_web_draft_area_offers_resource_entries(client, auth, people):
    diagnostics.import_results((DATA / "results_utf8_comma.csv").read_bytes(), actor=people.admin)
    entry = resources.create_entry(people.curator, ENTRY)
    route = diagnostics.draft_route_from_diagnostic(people.ivanova)
    auth.login("ivanova", "password-123")
    html = client.get(f"/routes/{route.id}").get_data(as_text=True)
    assert "Дефициты по результатам диагностики и ресурсная карта" in html and entry.title in html
    version = route.version
    added = client.post(f"/diagnostics/routes/{route.id}/from-resource",
                        data={"entry_id": entry.id, "deficit": "Методические компетенции", "version": version})
    assert added.status_code == 302
    db.session.expire_all()
    assert len(db.session.get(Route, route.id).activities) == 3
    stale = client.post(f"/diagnostics/routes/{route.id}/from-resource",
                        data={"entry_id": entry.id, "deficit": "Методические компетенции", "version": version},
                        follow_redirects=True)
    assert "изменён другим пользователем" in stale.get_data(as_text=True)
    db.session.expire_all()
    assert len(db.session.get(Route, route.id).activities) == 3


def test_web_correction_form_offers_resource_entries(client, auth, people):
    diagnostics.import_results((DATA / "results_utf8_comma.csv").read_bytes(), actor=people.admin)
    entry = resources.create_entry(people.curator, ENTRY)
    route = diagnostics.draft_route_from_diagnostic(people.ivanova)
    route = service.update_route(route.id, people.ivanova, {
        "period_start": "2022-10-01", "period_end": "2023-09-30", "request": "Запрос"}, route.version)
    service.apply_transition(route.id, "request_review", people.ivanova)
    service.apply_transition(route.id, "approve", people.ivanova.curator)
    route = service.apply_transition(route.id, "start", people.ivanova)
    auth.login("ivanova", "password-123")
    html = client.get(f"/routes/{route.id}/corrections/new?action=add").get_data(as_text=True)
    assert entry.title in html and "Предложить куратору" in html
    proposed = client.post(f"/diagnostics/routes/{route.id}/from-resource",
                           data={"entry_id": entry.id, "deficit": "Методические компетенции",
                                 "version": route.version})
    assert proposed.status_code == 302
    db.session.expire_all()
    assert [c.status for c in db.session.get(Route, route.id).corrections] == ["pending"]


def test_web_resource_map_crud_and_import(client, auth, people):
    auth.login("curator")
    form = {"title": "Вебинар по ЦОР", "provider": "ЦНППМ", "kind": "webinar", "level": "regional",
            "direction": "informational", "format": "online", "starts_on": "2022-11-01", "ends_on": "",
            "hours": "2", "annotation": "ФГИС «Моя школа»", "competencies": "Цифровые ресурсы\nИКТ", "url": ""}
    assert client.post("/resources/new", data=form).status_code == 302
    entry = db.session.execute(select(ResourceEntry)).scalar_one()
    assert entry.competency_names == ["Цифровые ресурсы", "ИКТ"] and entry.starts_on == date(2022, 11, 1)
    listing = client.get("/resources/?q=ЦНППМ").get_data(as_text=True)
    assert "Вебинар по ЦОР" in listing
    bad = client.post(f"/resources/{entry.id}/edit", data={**form, "competencies": ""})
    assert bad.status_code == 422
    assert client.post(f"/resources/{entry.id}/edit", data={**form, "title": "Вебинар 2"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(ResourceEntry, entry.id).title == "Вебинар 2"
    imported = _post_file(client, "/resources/import", resources.template_csv(), follow_redirects=True)
    assert "Ресурсная карта загружена" in imported.get_data(as_text=True)
    broken = _post_file(client, "/resources/import", b"\x89PNG\r\n\x1a\n\x00")
    assert broken.status_code == 422
    assert client.post(f"/resources/{entry.id}/delete").status_code == 302
    assert db.session.execute(select(func.count(ResourceEntry.id))).scalar_one() == 1
    auth.logout()
    auth.login("teacher")
    assert client.get("/resources/").status_code == 200
    assert client.get("/resources/new").status_code == 403
    assert client.post("/resources/new", data=form).status_code == 403


def test_web_forms_need_csrf(app, client, auth, people):
    auth.login("curator")
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        response = _post_file(client, "/diagnostics/import", (DATA / "results_utf8_comma.csv").read_bytes())
        assert response.status_code == 400
        assert client.post("/diagnostics/routes/new", data={"teacher_id": people.ivanova.id}).status_code == 400
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert counts() == (0, 0, 0)


@pytest.mark.parametrize("login, items", [
    ("curator", ["Диагностика", "Ресурсная карта", "Мониторинг"]),
    ("head", ["Диагностика", "Ресурсная карта", "Мониторинг"]),
    ("director1", ["Дефициты педагогов", "Ресурсная карта", "Мониторинг"]),
    ("teacher", ["Ресурсная карта"]),
])
def test_nav_links(client, auth, people, login, items):
    auth.login(login)
    html = client.get("/resources/").get_data(as_text=True)
    for item in items:
        assert f">{item}</a>" in html, item
    if login == "teacher":
        assert ">Мониторинг</a>" not in html and ">Диагностика</a>" not in html


def test_score_filter():
    from views.diagnostics import score_filter
    assert [score_filter(v) for v in (Decimal("1.30"), Decimal("2.00"), 4.5, None, Decimal("10"))] == [
        "1,3", "2", "4,5", "—", "10"]
