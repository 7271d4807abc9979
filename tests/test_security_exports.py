"""Exports to CSV/XLSX are safe against formula injection; the route list export is scoped and streamed."""
import csv
import io
import zipfile
from datetime import date
from decimal import Decimal

import openpyxl
import pytest

from workflow import accounts, service
from workflow.exports import append_xlsx_row, csv_stream, safe_cell

ATTACKS = ["=HYPERLINK(\"http://evil.example\",\"x\")", "+7 (900) 000-00-00", "-2+3", "@SUM(A1:A2)",
           "\t=1+1", "\r=1+1", "=cmd|' /C calc'!A0"]


@pytest.mark.parametrize("value", ATTACKS)
def test_safe_cell_escapes_formula_prefixes(value):
    assert safe_cell(value) == "'" + value


@pytest.mark.parametrize("value, expected", [
    ("СОШ № 1", "СОШ № 1"), ("Иванова И.И.", "Иванова И.И."), ("a=b", "a=b"), ("", ""),
    (None, ""), (5, 5), (-3, -3), (Decimal("2.5"), Decimal("2.5")),
    (date(2022, 9, 1), "01.09.2022"), (True, "да"),
])
def test_safe_cell_leaves_harmless_values(value, expected):
    assert safe_cell(value) == expected


def _read_csv(text):
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:]), delimiter=";"))


def test_csv_stream_escapes_every_cell():
    text = "".join(csv_stream(["Поле", "Значение"], [[value, value] for value in ATTACKS]))
    rows = _read_csv(text)
    assert rows[0] == ["Поле", "Значение"]
    assert [row[0] for row in rows[1:]] == ["'" + value for value in ATTACKS]


def test_xlsx_rows_keep_formula_like_text_as_text():
    book = openpyxl.Workbook()
    append_xlsx_row(book.active, ["Текст", 5, date(2023, 3, 27)])
    for value in ATTACKS:
        append_xlsx_row(book.active, [value, -1, None])
    out = io.BytesIO()
    book.save(out)
    sheet_xml = zipfile.ZipFile(io.BytesIO(out.getvalue())).read("xl/worksheets/sheet1.xml")
    assert b"<f>" not in sheet_xml and b"<f " not in sheet_xml
    sheet = openpyxl.load_workbook(io.BytesIO(out.getvalue())).active
    assert [sheet.cell(row=i + 2, column=1).value for i in range(len(ATTACKS))] == ATTACKS
    assert all(sheet.cell(row=i + 2, column=1).data_type == "s" for i in range(len(ATTACKS)))
    assert sheet.cell(row=2, column=1).quotePrefix
    assert sheet.cell(row=2, column=2).value == -1
    assert sheet.cell(row=1, column=3).number_format == "DD.MM.YYYY"


# --- GET /routes/export.csv ---------------------------------------------------------------------

@pytest.fixture
def exported(district):
    route = district.route()
    service.update_route(route.id, district.teacher, {"subject": "=cmd|' /C calc'!A0"}, None)
    accounts.update_user(district.teacher, full_name="@SUM(1+1)*cmd")
    other = district.route(teacher=district.other_teacher, state="curator_approved")
    return route, other


def _export(client, auth, login, **params):
    auth.login(login)
    return client.get("/routes/export.csv", query_string=params)


def test_export_is_streamed_csv_with_a_cyrillic_name(client, auth, district, exported):
    response = _export(client, auth, "curator")
    assert response.status_code == 200
    assert response.is_streamed
    assert response.mimetype == "text/csv"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''%D0%9C%D0%B0%D1%80%D1%88%D1%80%D1%83%D1%82%D1%8B%20%D0%98%D0%9E%D0%9C.csv" \
        in disposition


def test_export_escapes_injected_values(client, auth, district, exported):
    route, _ = exported
    rows = _read_csv(_export(client, auth, "curator").get_data(as_text=True))
    row = next(r for r in rows[1:] if r[0] == str(route.id))
    assert row[1] == "'@SUM(1+1)*cmd"
    assert row[4] == "'=cmd|' /C calc'!A0"
    assert row[6] == "Черновик"


@pytest.mark.parametrize("login, sees_own, sees_other", [
    ("curator", True, False), ("curator2", False, True), ("director1", True, False),
    ("director2", False, True), ("head", True, True), ("admin", True, True),
])
def test_export_holds_only_what_the_user_may_see(client, auth, district, exported, login, sees_own, sees_other):
    route, other = exported
    rows = _read_csv(_export(client, auth, login).get_data(as_text=True))
    ids = {r[0] for r in rows[1:]}
    assert (str(route.id) in ids) is sees_own
    assert (str(other.id) in ids) is sees_other


def test_export_filters_by_state(client, auth, district, exported):
    route, other = exported
    rows = _read_csv(_export(client, auth, "head", state="curator_approved").get_data(as_text=True))
    assert [r[0] for r in rows[1:]] == [str(other.id)]


def test_teacher_may_not_export(client, auth, district, exported):
    response = _export(client, auth, "teacher")
    assert response.status_code == 403
    assert "Недостаточно прав" in response.get_data(as_text=True)
    assert "text/csv" not in response.content_type


def test_anonymous_is_sent_to_login(client, district):
    response = client.get("/routes/export.csv")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize("params, message", [
    ({"state": "deleted"}, "Неизвестное состояние"), ({"school_id": "1 OR 1=1"}, "целым числом"),
])
def test_bad_filters_give_a_russian_422(client, auth, district, params, message):
    response = _export(client, auth, "head", **params)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
