"""Products of activities uploaded as files: what is accepted, and who may download them."""
import hashlib
import mimetypes
import unicodedata

from sqlalchemy import select
from sqlalchemy.orm import undefer

from models import Activity, StoredFile, db
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
        raise InvalidInput("У файла нет имени", details={"file": "name"})
    if len(name) > 255:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 254 - len(ext)] + dot + ext) if dot and len(ext) < 20 else name[:255]
    return name


def product_file_payload(filename, data, max_bytes=MAX_PRODUCT_FILE_BYTES):
    """Check an uploaded product and return the dict service.record_activity_result(file=...) stores."""
    name = clean_filename(filename)
    extension = name.rpartition(".")[2].lower() if "." in name else ""
    if extension not in ALLOWED_EXTENSIONS:
        allowed = ", ".join(sorted(ALLOWED_EXTENSIONS))
        raise InvalidInput(f"Этот тип файла не принимается. Допустимые расширения: {allowed}",
                           details={"file": "type"})
    if not data:
        raise InvalidInput("Файл пустой", details={"file": "empty"})
    if len(data) > max_bytes:
        raise InvalidInput(f"Файл больше {max_bytes // (1024 * 1024)} МБ", details={"file": "size"})
    # The type comes from the name, not from what the browser claims.
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return {"original_name": name, "content_type": content_type, "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(), "data": data}


def load_product_file(file_id, actor):
    """Return a stored product file (with its data) if the actor may see the route it belongs to."""
    route_id = db.session.execute(
        select(Activity.route_id).where(Activity.product_file_id == file_id).limit(1)
    ).scalar_one_or_none()
    if route_id is None:
        raise NotFound("Файл не найден")
    load_route(route_id, actor, full=False)
    stored = db.session.execute(
        select(StoredFile).where(StoredFile.id == file_id).options(undefer(StoredFile.data))
    ).scalar_one_or_none()
    if stored is None:
        raise NotFound("Файл не найден")
    return stored
