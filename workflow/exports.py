"""Exports to CSV and XLSX that a spreadsheet cannot turn into formulas.

A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is read by Excel and
LibreOffice as a formula (CSV/formula injection). In CSV such text gets a leading apostrophe;
in XLSX it is written as a typed string with the "quote prefix" style, which is exactly what a
spreadsheet does when a person types '=…, so the cell shows the text and never evaluates it.

    csv_stream(["ФИО", "Школа"], rows)            # an iterator of str chunks for a streamed response
    append_xlsx_row(sheet, ["=HYPERLINK(...)", 5])  # openpyxl, safe
"""
import csv
import io
from datetime import date, datetime
from decimal import Decimal

from flask_babel import force_locale
from flask_babel import gettext as _

from models import Role, db
from workflow import queries
from workflow.errors import InvalidInput, NotPermitted
from workflow.states import STATE_LABELS, STATES

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
CSV_DELIMITER = ";"  # what Excel expects in a Russian locale
DATE_FORMAT = "%d.%m.%Y"


def is_dangerous(value):
    """Tell whether a text value would be read as a formula by a spreadsheet."""
    return isinstance(value, str) and value.startswith(FORMULA_PREFIXES)


def safe_cell(value):
    """Return a value safe to put in a CSV cell: text that looks like a formula gets a leading '.

    Numbers, dates and None pass through (None becomes ""); dates are written as дд.мм.гггг.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "да" if value else "нет"
    if isinstance(value, datetime):
        return value.strftime(DATE_FORMAT + " %H:%M")
    if isinstance(value, date):
        return value.strftime(DATE_FORMAT)
    if isinstance(value, (int, float, Decimal)):
        return value
    value = str(value)
    return "'" + value if is_dangerous(value) else value


def csv_line(values, delimiter=CSV_DELIMITER):
    """Return one CSV line (with CRLF) of safe cells."""
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, quoting=csv.QUOTE_MINIMAL).writerow(
        [safe_cell(v) for v in values])
    return buffer.getvalue()


def csv_stream(header, rows, delimiter=CSV_DELIMITER, bom=True):
    """Yield a CSV file chunk by chunk: a UTF-8 BOM (so Excel reads Cyrillic), the header, the rows."""
    if bom:
        yield "\ufeff"
    yield csv_line(header, delimiter)
    for row in rows:
        yield csv_line(row, delimiter)


def append_xlsx_row(sheet, values):
    """Append a row to an openpyxl sheet: formula-like text as quoted strings, dates as dates."""
    sheet.append([float(v) if isinstance(v, Decimal) else v for v in values])
    row = sheet.max_row
    for column, value in enumerate(values, start=1):
        cell = sheet.cell(row=row, column=column)
        if is_dangerous(value):
            # openpyxl made it a formula; make it text shown as typed, as Excel does for '=...
            cell.value = value
            cell.data_type = "s"
            cell.quotePrefix = True
        elif isinstance(value, datetime):
            cell.number_format = "DD.MM.YYYY HH:MM"
        elif isinstance(value, date):
            cell.number_format = "DD.MM.YYYY"
    return row


# --- the route list ----------------------------------------------------------------------------------

ROUTE_COLUMNS = ["№", "Педагог", "Школа", "Должность", "Предмет", "Куратор", "Состояние",
                 "Начало", "Окончание", "Просрочено мероприятий", "Изменён"]


EXPORT_ROLES = {Role.CURATOR.value, Role.SCHOOL_HEAD.value, Role.DEPARTMENT_HEAD.value, Role.ADMIN.value}


def route_filters(user, state=None, school_id=None):
    """Check who exports and the filters; return (state, school_id) cleaned, or raise 403/422."""
    if user.role not in EXPORT_ROLES:
        raise NotPermitted(_("Выгрузка списка маршрутов доступна кураторам, руководителям и администратору"))
    state = (state or "").strip() or None
    if state is not None and state not in STATES:
        raise InvalidInput(_("Неизвестное состояние маршрута: %(state)s", state=state),
                           details={"state": "choice"})
    school = (str(school_id).strip() if school_id is not None else "") or None
    if school is not None:
        if not school.isdigit():
            raise InvalidInput(_("Номер школы должен быть целым числом"), details={"school_id": "integer"})
        school = int(school)
    return state, school


def route_rows(user, *, state=None, school_id=None, batch=500):
    """Yield the rows of the route list the user may see, streamed from the database in batches."""
    # The file's columns are Russian whatever the interface language; so are its state names.
    with force_locale("ru"):
        state_names = {state: str(label) for state, label in STATE_LABELS.items()}
    query = queries.routes_query(user, state=state, school_id=school_id).execution_options(yield_per=batch)
    for route, overdue in db.session.execute(query):
        yield [
            route.id,
            route.teacher.full_name if route.teacher else "",
            route.school.name if route.school else "",
            route.position,
            route.subject,
            route.curator.full_name if route.curator else "",
            state_names.get(route.state, route.state),
            route.period_start,
            route.period_end,
            overdue,
            route.updated_at.date() if route.updated_at else None,
        ]
