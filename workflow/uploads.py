"""Products of activities uploaded as files: what is accepted, and who may download them."""
import unicodedata

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import undefer

from models import Activity, StoredFile, db
from workflow import upload_checks
from workflow.errors import InvalidInput, NotFound
from workflow.service import load_route

MAX_PRODUCT_FILE_BYTES = 10 * 1024 * 1024

# Documents, presentations, tables, images and archives a teacher shows as a product.
ALLOWED_EXTENSIONS = {
    "pdf", "doc", "docx", "odt", "rtf", "txt", "ppt", "pptx", "odp", "xls", "xlsx", "ods",
    "jpg", "jpeg", "png", "gif", "webp", "zip", "rar", "7z", "mp4", "mp3",
}


def clean_filename(name):
    """Keep the original (Cyrillic) name but drop directories, control characters and excess length."""
    name = unicodedata.normalize("NFC", name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip().strip(".").strip()
    if not name:
        raise InvalidInput(_("У файла нет имени"), details={"file": "name"})
    if len(name) > 255:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 254 - len(ext)] + dot + ext) if dot and len(ext) < 20 else name[:255]
    return name


# The kinds of workflow.upload_checks the extensions above stand for.
PRODUCT_KINDS = {"pdf", "doc", "docx", "odt", "rtf", "txt", "ppt", "pptx", "odp", "xls", "xlsx", "ods",
                 "jpeg", "png", "gif", "webp", "zip", "rar", "7z", "mp4", "mp3"}


def product_file_payload(filename, data, max_bytes=MAX_PRODUCT_FILE_BYTES):
    """Check an uploaded product and return the dict service.record_activity_result(file=...) stores."""
    name = clean_filename(filename)
    extension = name.rpartition(".")[2].lower() if "." in name else ""
    if extension not in ALLOWED_EXTENSIONS:
        allowed = ", ".join(sorted(ALLOWED_EXTENSIONS))
        raise InvalidInput(_("Этот тип файла не принимается. Допустимые расширения: %(allowed)s", allowed=allowed),
                           details={"file": "type"})
    # The type comes from the content (magic bytes, the structure of Office packages; ZIP and XML
    # bombs refused), never from the name or what the browser claims; over the cap is a 413.
    info = upload_checks.check_upload(data, name, PRODUCT_KINDS, max_bytes=max_bytes)
    return {"original_name": info.name, "content_type": info.content_type, "size": info.size,
            "sha256": info.sha256, "data": data}


def load_product_file(file_id, actor):
    """Return a stored product file (with its data) if the actor may see the route it belongs to."""
    route_id = db.session.execute(
        select(Activity.route_id).where(Activity.product_file_id == file_id).limit(1)
    ).scalar_one_or_none()
    if route_id is None:
        raise NotFound(_("Файл не найден"))
    load_route(route_id, actor, full=False)
    stored = db.session.execute(
        select(StoredFile).where(StoredFile.id == file_id).options(undefer(StoredFile.data))
    ).scalar_one_or_none()
    if stored is None:
        raise NotFound(_("Файл не найден"))
    return stored
