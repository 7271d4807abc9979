"""Checks every uploaded file passes before anything parses or stores it.

The type is read from the content (magic bytes, the structure of a ZIP package), never from the
name or the browser's Content-Type; ZIP bombs (unpacked size, ratio, member count) and XML bombs
(any DTD or entity declaration in the package's XML) are rejected before a parser sees the file.

    info = check_upload(data, filename, {"xlsx", "csv"}, max_bytes=5 * 1024 * 1024)
    stored = store_upload(info, data, actor)   # a StoredFile row; its id is the only handle

Callers: the diagnostics and resource-map imports (xlsx/csv), template uploads (docx), products
of activities (documents, images, archives).
"""
import hashlib
import io
import posixpath
import re
import unicodedata
import zipfile
from dataclasses import dataclass
from xml.etree.ElementTree import ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from models import StoredFile, db
from workflow.errors import InvalidInput

MAX_UNPACKED_BYTES = 100 * 1024 * 1024
MAX_RATIO = 100
MAX_ENTRIES = 2000
# Small members (styles, relationships) legitimately compress far better than 100:1.
RATIO_MIN_SIZE = 1024 * 1024

CONTENT_TYPES = {
    "pdf": "application/pdf",
    "png": "image/png",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "rtf": "application/rtf",
    "doc": "application/msword",
    "xls": "application/vnd.ms-excel",
    "ppt": "application/vnd.ms-powerpoint",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "odt": "application/vnd.oasis.opendocument.text",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "odp": "application/vnd.oasis.opendocument.presentation",
    "zip": "application/zip",
    "rar": "application/vnd.rar",
    "7z": "application/x-7z-compressed",
    "mp4": "video/mp4",
    "mp3": "audio/mpeg",
    "csv": "text/csv",
    "txt": "text/plain",
}

# The file name extensions each kind may carry (the name must agree with the content).
EXTENSIONS = {
    "pdf": {"pdf"}, "png": {"png"}, "jpeg": {"jpg", "jpeg"}, "gif": {"gif"}, "webp": {"webp"},
    "rtf": {"rtf"}, "doc": {"doc"}, "xls": {"xls"}, "ppt": {"ppt"}, "docx": {"docx"},
    "xlsx": {"xlsx"}, "pptx": {"pptx"}, "odt": {"odt"}, "ods": {"ods"}, "odp": {"odp"},
    "zip": {"zip"}, "rar": {"rar"}, "7z": {"7z"}, "mp4": {"mp4"}, "mp3": {"mp3"},
    "csv": {"csv", "txt"}, "txt": {"txt", "csv"},
}

KIND_LABELS = {
    "pdf": "PDF", "png": "PNG", "jpeg": "JPEG", "gif": "GIF", "webp": "WebP", "rtf": "RTF",
    "doc": "Word 97–2003", "xls": "Excel 97–2003", "ppt": "PowerPoint 97–2003", "docx": "Word (DOCX)",
    "xlsx": "Excel (XLSX)", "pptx": "PowerPoint (PPTX)", "odt": "ODT", "ods": "ODS", "odp": "ODP",
    "zip": "ZIP", "rar": "RAR", "7z": "7z", "mp4": "MP4", "mp3": "MP3", "csv": "CSV", "txt": _l("текст"),
}

# Package kinds whose XML members are checked for bombs.
PACKAGE_KINDS = {"docx", "xlsx", "pptx", "odt", "ods", "odp"}
_OLE_KINDS = {"doc", "xls", "ppt"}
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ODF_MIMETYPES = {
    b"application/vnd.oasis.opendocument.text": "odt",
    b"application/vnd.oasis.opendocument.spreadsheet": "ods",
    b"application/vnd.oasis.opendocument.presentation": "odp",
}


class FileTooLarge(InvalidInput):
    """An upload over the size cap: HTTP 413 (an InvalidInput, so forms show it like other input errors)."""

    code = "file_too_large"
    status = 413


class UnsafeFile(InvalidInput):
    """A file of the wrong type, damaged, or built to exhaust the server (ZIP or XML bomb)."""

    code = "invalid_file"


@dataclass(frozen=True)
class UploadInfo:
    """What an upload turned out to be."""

    kind: str
    content_type: str
    name: str
    size: int
    sha256: str


def clean_filename(name, default="файл"):
    """Keep the original (Cyrillic) name but drop directories, control characters and excess length."""
    name = unicodedata.normalize("NFC", str(name or "")).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip().strip(".").strip()
    if not name:
        name = default
    if len(name) > 255:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 254 - len(ext)] + dot + ext) if dot and len(ext) < 20 else name[:255]
    return name


def _extension(name):
    return name.rpartition(".")[2].lower() if "." in name else ""


def _format_bytes(count):
    if count >= 1024 * 1024:
        return _("%(size)s МБ", size=f"{count / (1024 * 1024):.0f}")
    return _("%(size)s КБ", size=max(count // 1024, 1))


# --- ZIP packages ------------------------------------------------------------------------------

def safe_zip(data, max_unpacked=MAX_UNPACKED_BYTES, max_ratio=MAX_RATIO, max_entries=MAX_ENTRIES):
    """Open a ZIP archive only when it is safe to read; return the open ZipFile.

    Rejects (UnsafeFile) a damaged or encrypted archive, more than max_entries members, unpacked
    size over max_unpacked, a member compressed better than max_ratio:1, absolute or `..` member
    names, duplicate names and members sharing their data (the overlapping-file bomb).
    Python's zipfile never inflates a member past its declared size (a lying size fails its CRC),
    so checking the declared sizes bounds what any later reader unpacks.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError):
        raise UnsafeFile(_("Файл повреждён: это не ZIP-архив (документ Office) или он неполный"),
                         details={"file": "damaged"}) from None
    if len(infos) > max_entries:
        raise UnsafeFile(_("В архиве слишком много файлов (%(count)s; допустимо не больше %(limit)s)",
                           count=len(infos), limit=max_entries),
                         details={"file": "entries"})
    total, names, offsets = 0, set(), set()
    for info in infos:
        name = info.filename
        if info.flag_bits & 0x1:
            raise UnsafeFile(_("Архив зашифрован паролем: загрузите файл без пароля"),
                             details={"file": "encrypted"})
        normalized = posixpath.normpath(name.replace("\\", "/"))
        if name.startswith(("/", "\\")) or normalized.startswith("..") or ":" in name.split("/")[0]:
            raise UnsafeFile(_("В архиве недопустимое имя файла"), details={"file": "member_name"})
        if name in names:
            raise UnsafeFile(_("В архиве повторяются имена файлов"), details={"file": "duplicate_member"})
        names.add(name)
        if info.header_offset in offsets:
            raise UnsafeFile(_("Архив повреждён или построен как «архивная бомба»"),
                             details={"file": "overlap"})
        offsets.add(info.header_offset)
        total += info.file_size
        if total > max_unpacked:
            raise UnsafeFile(
                _("Распакованный файл слишком большой (больше %(limit)s): возможно, это «архивная бомба»",
                  limit=_format_bytes(max_unpacked)), details={"file": "unpacked_size"})
        if info.file_size > RATIO_MIN_SIZE and info.file_size > max_ratio * max(info.compress_size, 1):
            raise UnsafeFile(_("Файл сжат подозрительно сильно: возможно, это «архивная бомба»"),
                             details={"file": "ratio"})
    return archive


def check_xml(stream_or_bytes):
    """Reject XML with a DTD or entity declarations (billion laughs, external entities) or broken XML.

    Reads only up to the root element: a DTD may appear only before it.
    """
    source = io.BytesIO(stream_or_bytes) if isinstance(stream_or_bytes, bytes) else stream_or_bytes
    try:
        for _event in SafeET.iterparse(source, events=("start",), forbid_dtd=True, forbid_entities=True,
                                  forbid_external=True):
            break
    except DefusedXmlException:
        raise UnsafeFile(_("Файл содержит запрещённые конструкции XML (DTD или сущности): "
                           "возможно, это «XML-бомба»"), details={"file": "xml_bomb"}) from None
    except (ParseError, ValueError, UnicodeError):
        raise UnsafeFile(_("Файл повреждён: внутри документа неверный XML"), details={"file": "xml"}) from None


def check_package_xml(archive):
    """Check every XML part of an Office/ODF package with check_xml."""
    for info in archive.infolist():
        if info.is_dir() or not info.filename.lower().endswith((".xml", ".rels", ".vml")):
            continue
        try:
            with archive.open(info) as member:
                check_xml(member)
        except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError):
            raise UnsafeFile(_("Файл повреждён: не удалось прочитать часть документа"),
                             details={"file": "damaged"}) from None


def _package_kind(archive):
    names = set(archive.namelist())
    if "[Content_Types].xml" in names:
        if "word/document.xml" in names:
            return "docx"
        if "xl/workbook.xml" in names:
            return "xlsx"
        if "ppt/presentation.xml" in names:
            return "pptx"
    if "mimetype" in names:
        try:
            kind = _ODF_MIMETYPES.get(archive.read("mimetype")[:100].strip())
        except (zipfile.BadZipFile, OSError, NotImplementedError):
            kind = None
        if kind:
            return kind
    return "zip"


# --- sniffing ------------------------------------------------------------------------------------

_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0e-\x19\x1b-\x1f\x7f]")


def _is_text(data):
    if b"\x00" in data:
        return False
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1251")
        except UnicodeDecodeError:
            return False
    return _CONTROL_CHARS.search(text) is None


def sniff(data):
    """Return the kind of a file from its first bytes (or "text"), or None when unknown."""
    head = data[:16]
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if head.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"{\\rtf"):
        return "rtf"
    if head.startswith(_OLE_MAGIC):
        return "ole"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head.startswith(b"Rar!\x1a\x07"):
        return "rar"
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return "7z"
    if data[4:8] == b"ftyp":
        return "mp4"
    if head.startswith(b"ID3"):
        return "mp3"
    if _is_text(data):
        return "text"
    # An MPEG frame sync; checked after text, since "\xff\xfb" also begins cp1251 "яы".
    if head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return "mp3"
    return None


def _allowed_list(allowed):
    labels = sorted({str(KIND_LABELS.get(k, k)) for k in allowed})
    return ", ".join(labels)


def check_upload(data, filename, allowed_kinds, *, max_bytes=None, max_unpacked=MAX_UNPACKED_BYTES,
                 max_ratio=MAX_RATIO, max_entries=MAX_ENTRIES):
    """Check an upload's size and real type; return UploadInfo or raise FileTooLarge / UnsafeFile.

    allowed_kinds: kinds from CONTENT_TYPES, e.g. {"xlsx", "csv"}. The file's name must agree
    with its content (a PDF named .docx is refused); the stored name keeps Cyrillic letters.
    """
    allowed = set(allowed_kinds)
    unknown = allowed - set(CONTENT_TYPES)
    if unknown:
        raise ValueError(f"unknown upload kinds: {sorted(unknown)}")
    if max_bytes is not None and len(data or b"") > max_bytes:
        raise FileTooLarge(_("Файл слишком большой: допустимо не больше %(limit)s", limit=_format_bytes(max_bytes)))
    if not data:
        raise UnsafeFile(_("Файл пустой"), details={"file": "empty"})
    name = clean_filename(filename)
    extension = _extension(name)
    sniffed = sniff(data)
    kind = None
    if sniffed == "zip":
        archive = safe_zip(data, max_unpacked=max_unpacked, max_ratio=max_ratio, max_entries=max_entries)
        with archive:
            kind = _package_kind(archive)
            if kind in PACKAGE_KINDS and kind in allowed:
                check_package_xml(archive)
    elif sniffed == "ole":
        # Old Office binaries share one container; the name tells Word from Excel.
        kind = extension if extension in _OLE_KINDS else "doc"
    elif sniffed == "text":
        kind = extension if extension in {"csv", "txt"} and extension in allowed else \
            ("csv" if "csv" in allowed else "txt")
    else:
        kind = sniffed
    if kind is None or kind not in allowed:
        allowed_list = _allowed_list(allowed)
        if kind in KIND_LABELS:
            message = _("Этот тип файла не принимается (по содержимому это %(kind)s). Допустимые: %(allowed)s",
                        kind=KIND_LABELS[kind], allowed=allowed_list)
        else:
            message = _("Этот тип файла не принимается. Допустимые: %(allowed)s", allowed=allowed_list)
        raise UnsafeFile(message, details={"file": "type"})
    if extension not in EXTENSIONS[kind]:
        raise UnsafeFile(
            _("Расширение файла «%(name)s» не соответствует содержимому (%(kind)s): ожидается .%(extension)s",
              name=name, kind=KIND_LABELS[kind], extension=sorted(EXTENSIONS[kind])[0]),
            details={"file": "extension"})
    return UploadInfo(kind=kind, content_type=CONTENT_TYPES[kind], name=name, size=len(data),
                      sha256=hashlib.sha256(data).hexdigest())


def store_upload(info, data, uploaded_by=None):
    """Add a checked upload as a StoredFile (flushed, not committed); the row's id is its only handle."""
    stored = StoredFile(original_name=info.name, content_type=info.content_type, size=info.size,
                        sha256=info.sha256, data=data,
                        uploaded_by_id=getattr(uploaded_by, "id", uploaded_by))
    db.session.add(stored)
    db.session.flush()
    return stored
