"""Read CSV and XLSX tables as Russian offices produce them, safely and with errors by row and column.

CSV: UTF-8, UTF-8 with BOM or Windows-1251; comma, semicolon or tab. XLSX: the first sheet, read
with openpyxl over defusedxml after the archive's size, unpacked size and ratio are checked, so a
zip bomb is rejected before any XML is parsed.
"""
import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from workflow.errors import InvalidInput
from workflow.upload_checks import UnsafeFile, check_package_xml, safe_zip

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_UNPACKED_BYTES = 50 * 1024 * 1024
MAX_ZIP_MEMBERS = 1000
MAX_RATIO = 100
MAX_ROWS = 20000
MAX_COLUMNS = 60

_XLSX_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_BINARY_MAGICS = (b"%PDF", b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"\x1f\x8b", b"Rar!", b"7z\xbc\xaf", b"BM")
_OTHER_ENCODINGS = [("koi8_r", "KOI8-R"), ("cp866", "DOS (CP866)"), ("mac_cyrillic", "Mac Cyrillic")]
_EXCEL_EPOCH = date(1899, 12, 30)

ENCODING_MESSAGE = _l("Неверная кодировка файла{hint}: сохраните его в UTF-8 или Windows-1251")
NOT_A_TABLE = _l("Файл не является таблицей CSV или XLSX")


def error(row, column, message):
    """Return one import error as the API and the pages show it."""
    return {"row": row, "column": column, "message": str(message)}


class ImportFailed(InvalidInput):
    """A file that cannot be imported: carries every error found, by row and column."""

    code = "import_failed"

    def __init__(self, errors, message=None):
        self.errors = list(errors)
        if message is None:
            first = self.errors[0]["message"] if self.errors else _("Файл не импортирован")
            message = first if len(self.errors) == 1 else \
                _("Файл не импортирован: ошибок — %(count)s. %(first)s", count=len(self.errors), first=first)
        super().__init__(message, details={"errors": self.errors})


@dataclass
class Table:
    """A header row and the data rows of a file, each row with its number as the user sees it."""

    header: list
    rows: list = field(default_factory=list)  # [(row_number, [cell, ...])]
    kind: str = "csv"
    encoding: str | None = None
    delimiter: str | None = None


def normalize_header(value):
    """Return a header cell in the form the column aliases are written in."""
    text = "" if value is None else str(value)
    text = text.replace("\ufeff", "").replace("ё", "е").replace("Ё", "Е").replace("*", "")
    return re.sub(r"\s+", " ", text).strip().casefold()


def read_table(data, known_headers):
    """Read a CSV or XLSX file into a Table; raise ImportFailed for anything that is not a readable table.

    known_headers: normalized header names that identify the expected columns (to choose the
    delimiter and to tell a wrong encoding from a missing column).
    """
    if data is None or not data.strip(b" \t\r\n\x00"):
        raise ImportFailed([error(None, None, _("Файл пуст"))])
    if len(data) > MAX_FILE_BYTES:
        raise ImportFailed([error(None, None,
                                  _("Файл больше %(size)s МБ: разделите его на части",
                                    size=MAX_FILE_BYTES // (1024 * 1024)))])
    if data.startswith(_XLSX_MAGIC):
        return _read_xlsx(data)
    if data.startswith(_OLE_MAGIC):
        raise ImportFailed([error(None, None, _("Формат XLS (Excel 97–2003) не поддерживается: "
                                              "сохраните файл как XLSX или CSV"))])
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ImportFailed([error(None, None, ENCODING_MESSAGE.format(hint=" (UTF-16)"))])
    if data.startswith(_BINARY_MAGICS) or b"\x00" in data[:4096]:
        raise ImportFailed([error(None, None, NOT_A_TABLE)])
    return _read_csv(data, known_headers)


def map_columns(header, columns):
    """Map a header row to {field: index} and {field: header as written} for `columns`
    ((name, label, required, aliases) tuples); return them with the list of header errors."""
    by_alias = {alias: (name, label) for name, label, _required, aliases in columns for alias in aliases}
    positions, titles, errors = {}, {}, []
    for index, cell in enumerate(header):
        found = by_alias.get(normalize_header(cell))
        if found is None:
            continue
        name, label = found
        if name in positions:
            errors.append(error(1, cell_text(cell), _("Столбец «%(label)s» указан дважды", label=label)))
            continue
        positions[name], titles[name] = index, cell_text(cell)
    for name, label, required, _aliases in columns:
        if required and name not in positions:
            errors.append(error(1, label, _("Нет обязательного столбца «%(label)s»", label=label)))
    return positions, titles, errors


def _decode(data):
    for encoding in ("utf-8-sig", "cp1251"):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise ImportFailed([error(None, None, ENCODING_MESSAGE.format(hint=""))])


def _first_line(text):
    for line in text.splitlines():
        if line.strip():
            return line
    return ""


def _known_count(cells, known_headers):
    return sum(1 for cell in cells if normalize_header(cell) in known_headers)


def _read_csv(data, known_headers):
    text, encoding = _decode(data)
    controls = sum(1 for ch in text[:4096] if ord(ch) < 32 and ch not in "\t\r\n")
    if controls > 4:
        raise ImportFailed([error(None, None, NOT_A_TABLE)])
    line = _first_line(text)
    best, best_score = None, (-1, -1)
    for delimiter in (";", ",", "\t"):
        cells = next(csv.reader([line], delimiter=delimiter), [])
        score = (_known_count(cells, known_headers), line.count(delimiter))
        if score > best_score:
            best, best_score = delimiter, score
    if encoding == "cp1251":
        _raise_if_other_encoding(data, known_headers, best_score[0])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=best)
    table = Table(header=[], kind="csv", encoding=encoding, delimiter=best)
    try:
        _fill(table, ((number, row) for number, row in enumerate(reader, start=1)))
    except csv.Error as exc:
        raise ImportFailed([error(reader.line_num or None, None,
                                  _("Файл CSV повреждён: %(error)s", error=exc))]) from None
    return table


def _raise_if_other_encoding(data, known_headers, recognized):
    """Tell a file saved in another Cyrillic encoding (more headers make sense in it) from one lacking columns."""
    for codec, label in _OTHER_ENCODINGS:
        try:
            line = _first_line(data.decode(codec))
        except UnicodeDecodeError:
            continue
        for delimiter in (";", ",", "\t"):
            if _known_count(next(csv.reader([line], delimiter=delimiter), []), known_headers) > recognized:
                raise ImportFailed([error(None, None, ENCODING_MESSAGE.format(hint=f" ({label})"))])


def _fill(table, numbered_rows):
    """Take the first non-empty row as the header and the rest as data, skipping empty rows."""
    for number, row in numbered_rows:
        cells = list(row)[:MAX_COLUMNS]
        while cells and (cells[-1] is None or (isinstance(cells[-1], str) and not cells[-1].strip())):
            cells.pop()
        if all(cell is None or (isinstance(cell, str) and not cell.strip()) for cell in cells):
            continue
        if not table.header:
            table.header = cells
            continue
        if len(table.rows) >= MAX_ROWS:
            raise ImportFailed([error(number, None,
                                      _("В файле больше %(rows)s строк: разделите его на части", rows=MAX_ROWS))])
        table.rows.append((number, cells))
    if not table.header:
        raise ImportFailed([error(None, None, _("Файл пуст"))])


def _check_archive(data):
    """Reject archives that are not workbooks, would unpack too large or hold XML bombs, before parsing."""
    try:
        archive = safe_zip(data, max_unpacked=MAX_UNPACKED_BYTES, max_ratio=MAX_RATIO, max_entries=MAX_ZIP_MEMBERS)
    except UnsafeFile as exc:
        reason = (exc.details or {}).get("file")
        if reason in {"unpacked_size", "ratio"}:
            raise ImportFailed([error(None, None, _("Файл XLSX после распаковки слишком велик "
                                                    "(больше %(size)s МБ): не импортирован",
                                                    size=MAX_UNPACKED_BYTES // (1024 * 1024)))]) from None
        if reason == "damaged":
            raise ImportFailed([error(None, None, NOT_A_TABLE)]) from None
        raise ImportFailed([error(None, None, exc.message)]) from None
    with archive:
        if "xl/workbook.xml" not in set(archive.namelist()):
            raise ImportFailed([error(None, None, NOT_A_TABLE)])
        try:
            check_package_xml(archive)
        except UnsafeFile as exc:
            raise ImportFailed([error(None, None, exc.message)]) from None


def _read_xlsx(data):
    # Imported here, not with the app: openpyxl weighs about 6 MB in every worker (bench/, measurement 5).
    import openpyxl
    _check_archive(data)
    if not openpyxl.DEFUSEDXML:
        raise ImportFailed([error(None, None, _("Чтение XLSX отключено: не установлен defusedxml"))])
    table = Table(header=[], kind="xlsx")
    workbook = None
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        sheet = workbook.worksheets[0]
        _fill(table, enumerate(sheet.iter_rows(values_only=True, max_col=MAX_COLUMNS), start=1))
    except ImportFailed:
        raise
    except Exception:  # openpyxl raises many types for broken or hostile workbooks
        raise ImportFailed([error(None, None, _("Файл XLSX повреждён или не может быть прочитан безопасно"))]) from None
    finally:
        if workbook is not None:
            workbook.close()
    return table


# --- cell values ---------------------------------------------------------------------------------

def cell_text(value):
    """Return a cell as stripped text ('' for empty); numbers keep no trailing '.0'."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return value.strftime("%d.%m.%Y")
    return re.sub(r"\s+", " ", str(value)).strip()


def parse_date(value):
    """Parse дд.мм.гггг, гггг-мм-дд, an Excel date cell or an Excel serial number; None if not a date."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _excel_serial(value)
    text = str(value).strip()
    text = re.sub(r"\s+\d{1,2}:\d{2}(:\d{2})?$", "", text)
    for fmt in ("%d.%m.%Y", "%Y-%m-%d", "%d.%m.%y", "%d/%m/%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    if re.fullmatch(r"\d{5}([.,]\d+)?", text):
        return _excel_serial(float(text.replace(",", ".")))
    return None


def _excel_serial(number):
    # Serials from 1950 to 2100 only: anything else is a number typed into the date column.
    if not 18264 <= number <= 73051:
        return None
    return _EXCEL_EPOCH + timedelta(days=int(number))


def parse_decimal(value):
    """Parse a number with a decimal comma or point (spaces as thousands separators); None if not one."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    text = str(value).strip().replace("\u00a0", "").replace(" ", "")
    if not re.fullmatch(r"[-+]?\d+([.,]\d+)?", text):
        return None
    try:
        return Decimal(text.replace(",", "."))
    except InvalidOperation:
        return None


YES = {"да", "д", "yes", "y", "true", "1", "+", "есть", "выявлен"}
NO = {"нет", "н", "no", "n", "false", "0", "-", "не выявлен"}


def parse_flag(value):
    """Parse да/нет (and yes/no, 1/0, +/-); return True, False, or None when it is neither."""
    if isinstance(value, bool):
        return value
    text = cell_text(value).casefold().replace("ё", "е")
    if text in YES:
        return True
    if text in NO:
        return False
    return None


def key(text):
    """Normalize a name for matching: case, ё, quotes and spaces do not matter."""
    text = (text or "").casefold().replace("ё", "е")
    text = re.sub(r"[«»\"'“”„]", "", text)
    return re.sub(r"\s+", " ", text).strip()
