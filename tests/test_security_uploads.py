"""Uploads: size cap, type by content, ZIP and XML bombs rejected before parsing, Cyrillic names."""
import io
import struct
import zipfile
import zlib

import docx
import openpyxl
import pytest

from models import StoredFile, db
from workflow import upload_checks
from workflow.upload_checks import FileTooLarge, UnsafeFile, check_upload, safe_zip

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 17
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 64


def make_docx(text="Индивидуальный образовательный маршрут"):
    document = docx.Document()
    document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def make_xlsx(rows=(("ФИО", "Школа"), ("Иванова И.И.", "СОШ № 1"))):
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def replace_member(package, name, content):
    """Return the package with one member's bytes replaced (or added)."""
    source = zipfile.ZipFile(io.BytesIO(package))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            if info.filename != name:
                target.writestr(info, source.read(info))
        target.writestr(name, content)
    return out.getvalue()


def zip_of(members, level=9):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        for name, content in members:
            archive.writestr(name, content)
    return out.getvalue()


def zeros_member_zip(name, size):
    """A ZIP with one member of `size` zero bytes, compressed in chunks (memory stays small)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open(name, "w", force_zip64=True) as member:
            chunk = b"\x00" * (1024 * 1024)
            for _ in range(size // len(chunk)):
                member.write(chunk)
    return out.getvalue()


BILLION_LAUGHS = b"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r>
<w:t>&lol9;</w:t></w:r></w:p></w:body></w:document>"""

XXE = b"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE sst [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1">
<si><t>&xxe;</t></si></sst>"""

UTF16_DOCTYPE = ('<?xml version="1.0" encoding="UTF-16"?>\n<!DOCTYPE a [<!ENTITY e "x">]>\n'
                 '<a>&e;</a>').encode("utf-16")


# --- type by content --------------------------------------------------------------------------

@pytest.mark.parametrize("data, name, allowed, kind", [
    (PDF, "Конспект урока.pdf", {"pdf"}, "pdf"),
    (PNG, "фото.PNG", {"png", "jpeg"}, "png"),
    ("ФИО;Школа\nИванова;СОШ № 1\n".encode("cp1251"), "результаты.csv", {"csv", "xlsx"}, "csv"),
    ("\ufeffФИО,Школа\n".encode("utf-8"), "результаты.csv", {"csv"}, "csv"),
])
def test_accepted_by_content(data, name, allowed, kind):
    info = check_upload(data, name, allowed)
    assert info.kind == kind
    assert info.content_type == upload_checks.CONTENT_TYPES[kind]
    assert info.name == name
    assert info.size == len(data)


def test_real_office_packages_pass():
    assert check_upload(make_docx(), "Маршрут.docx", {"docx"}).kind == "docx"
    assert check_upload(make_xlsx(), "Диагностика.xlsx", {"xlsx", "csv"}).kind == "xlsx"


@pytest.mark.parametrize("data, name, allowed", [
    (PDF, "маршрут.docx", {"docx", "pdf"}),        # a PDF disguised as DOCX
    (EXE, "отчёт.pdf", {"pdf"}),                  # an executable named .pdf
    (EXE, "отчёт.exe", {"pdf", "docx"}),
    (PDF, "таблица.xlsx", {"xlsx", "csv"}),        # not a spreadsheet at all
    (make_docx(), "таблица.xlsx", {"xlsx", "csv"}),  # a Word file named .xlsx
    (zip_of([("a.txt", b"x")]), "таблица.xlsx", {"xlsx"}),  # a plain ZIP named .xlsx
    (b"\x00\x01\x02binary\x00", "data.csv", {"csv"}),
    (PDF, "document.pdf.exe", {"pdf"}),
])
def test_rejected_by_content_not_extension(data, name, allowed):
    with pytest.raises(UnsafeFile) as error:
        check_upload(data, name, allowed)
    assert error.value.status == 422
    assert "файл" in error.value.message.lower() or "расширение" in error.value.message.lower()


def test_empty_file_is_rejected():
    with pytest.raises(UnsafeFile, match="пустой"):
        check_upload(b"", "пусто.csv", {"csv"})


def test_size_cap_gives_413():
    with pytest.raises(FileTooLarge) as error:
        check_upload(PDF + b"0" * 2048, "big.pdf", {"pdf"}, max_bytes=1024)
    assert error.value.status == 413
    assert "слишком большой" in error.value.message


def test_cyrillic_name_is_kept_and_paths_dropped():
    assert upload_checks.clean_filename("C:\\Users\\Мария\\Конспект «урок».pdf") == "Конспект «урок».pdf"
    assert upload_checks.clean_filename("../../etc/Отчёт.pdf") == "Отчёт.pdf"
    assert upload_checks.clean_filename("Отчёт\x00\r\n.pdf") == "Отчёт.pdf"
    long_name = "Я" * 300 + ".docx"
    cleaned = upload_checks.clean_filename(long_name)
    assert len(cleaned) == 255 and cleaned.endswith(".docx")


def test_store_upload_keeps_the_name_under_a_generated_id(app, district):
    info = check_upload(PDF, "Методическая разработка.pdf", {"pdf"})
    stored = upload_checks.store_upload(info, PDF, district.teacher)
    db.session.commit()
    row = db.session.get(StoredFile, stored.id)
    assert row.original_name == "Методическая разработка.pdf"
    assert row.content_type == "application/pdf"
    assert row.data == PDF and row.uploaded_by_id == district.teacher.id
    assert isinstance(row.id, int)


# --- ZIP bombs ------------------------------------------------------------------------------------

def test_zip_bomb_by_unpacked_size_is_rejected_before_parsing():
    bomb = zeros_member_zip("xl/worksheets/sheet1.xml", 110 * 1024 * 1024)
    assert len(bomb) < 1024 * 1024
    with pytest.raises(UnsafeFile, match="бомба"):
        check_upload(bomb, "diagnostic.xlsx", {"xlsx"})


def test_zip_bomb_inside_a_real_xlsx_is_rejected():
    member = zeros_member_zip("x", 8 * 1024 * 1024)
    blob = zipfile.ZipFile(io.BytesIO(member)).read("x")
    package = replace_member(make_xlsx(), "xl/media/image1.bin", blob)
    with pytest.raises(UnsafeFile, match="бомба"):
        check_upload(package, "Диагностика.xlsx", {"xlsx"})


def test_unpacked_size_limit_is_configurable():
    archive = zip_of([("a.xml", b"<a/>" * 1000)])
    with pytest.raises(UnsafeFile):
        safe_zip(archive, max_unpacked=1000)
    assert safe_zip(archive, max_unpacked=10_000).namelist() == ["a.xml"]


def test_too_many_members_are_rejected():
    archive = zip_of([(f"f{i}.txt", b"x") for i in range(30)], level=1)
    with pytest.raises(UnsafeFile, match="слишком много"):
        safe_zip(archive, max_entries=20)


def test_member_names_escaping_the_archive_are_rejected():
    with pytest.raises(UnsafeFile, match="имя"):
        safe_zip(zip_of([("../../evil.sh", b"x")]))
    with pytest.raises(UnsafeFile, match="имя"):
        safe_zip(zip_of([("/etc/passwd", b"x")]))


def test_duplicate_member_names_are_rejected():
    out = io.BytesIO()
    with pytest.warns(UserWarning):
        with zipfile.ZipFile(out, "w") as archive:
            archive.writestr("word/document.xml", b"<a/>")
            archive.writestr("word/document.xml", b"<b/>")
    with pytest.raises(UnsafeFile, match="повторяются"):
        safe_zip(out.getvalue())


def test_members_sharing_data_are_rejected():
    """The overlapping-file bomb: several directory entries point at one compressed block."""
    data = bytearray(zip_of([("a.xml", b"<a/>"), ("b.xml", b"<b/>")], level=1))
    second = data.index(b"PK\x01\x02", data.index(b"PK\x01\x02") + 4)
    struct.pack_into("<L", data, second + 42, 0)  # b.xml's local header offset -> a.xml's
    with pytest.raises(UnsafeFile):
        safe_zip(bytes(data))


def test_encrypted_archive_is_rejected():
    data = bytearray(zip_of([("word/document.xml", b"<a/>")]))
    central = data.index(b"PK\x01\x02")
    flags = struct.unpack_from("<H", data, central + 8)[0]
    struct.pack_into("<H", data, central + 8, flags | 0x1)
    with pytest.raises(UnsafeFile, match="зашифрован"):
        safe_zip(bytes(data))


def test_damaged_zip_is_rejected():
    with pytest.raises(UnsafeFile, match="повреждён"):
        check_upload(b"PK\x03\x04" + b"\x00" * 50, "table.xlsx", {"xlsx"})


# --- XML bombs ------------------------------------------------------------------------------------

def test_billion_laughs_in_docx_is_rejected():
    package = replace_member(make_docx(), "word/document.xml", BILLION_LAUGHS)
    with pytest.raises(UnsafeFile, match="XML"):
        check_upload(package, "Шаблон.docx", {"docx"})


def test_external_entity_in_xlsx_is_rejected():
    package = replace_member(make_xlsx(), "xl/sharedStrings.xml", XXE)
    with pytest.raises(UnsafeFile, match="XML"):
        check_upload(package, "Диагностика.xlsx", {"xlsx"})


def test_doctype_in_relationships_is_rejected():
    rels = b'<?xml version="1.0"?><!DOCTYPE r SYSTEM "http://evil.example/x.dtd"><Relationships/>'
    package = replace_member(make_docx(), "_rels/.rels", rels)
    with pytest.raises(UnsafeFile, match="XML"):
        check_upload(package, "Шаблон.docx", {"docx"})


def test_utf16_encoded_dtd_is_rejected():
    with pytest.raises(UnsafeFile, match="XML"):
        upload_checks.check_xml(UTF16_DOCTYPE)


def test_broken_xml_part_is_rejected():
    package = replace_member(make_docx(), "word/document.xml", b"<w:document><unclosed")
    with pytest.raises(UnsafeFile, match="XML"):
        check_upload(package, "Шаблон.docx", {"docx"})


# --- HTTP: size cap as 413 -----------------------------------------------------------------------------

def test_request_over_the_cap_is_a_russian_413_page(app, client):
    app.config["MAX_CONTENT_LENGTH"] = 1024
    response = client.post("/login", data={"login": "x", "password": "y", "file": (io.BytesIO(b"0" * 4096), "a.pdf")},
                           content_type="multipart/form-data")
    assert response.status_code == 413
    assert "Файл слишком большой" in response.get_data(as_text=True)
    assert response.mimetype == "text/html"


def test_api_request_over_the_cap_is_json_413(app, client):
    app.config["MAX_CONTENT_LENGTH"] = 1024
    response = client.post("/api/v1/tokens", data=b'{"login": "' + b"x" * 4096 + b'"}',
                           content_type="application/json")
    assert response.status_code == 413
    body = response.get_json()
    assert "слишком большой" in body["message"] and body["error"]


# --- HTTP: products of activities -----------------------------------------------------------------

def _upload_product(client, route, content, name):
    activity = route.activities[0]
    return client.post(f"/routes/{route.id}/activities/{activity.id}/result", data={
        "version": route.version, "status": "done", "product": "Конспект урока",
        "file": (io.BytesIO(content), name)}, content_type="multipart/form-data")


def _stored_count():
    return db.session.execute(db.select(db.func.count(StoredFile.id))).scalar_one()


def test_product_with_a_cyrillic_name_downloads_under_that_name(client, auth, district):
    route = district.route(state="in_progress")
    auth.login("teacher")
    assert _upload_product(client, route, PDF, "Конспект урока «Дроби».pdf").status_code == 302
    db.session.expire_all()
    stored = db.session.execute(db.select(StoredFile)).scalar_one()
    assert stored.original_name == "Конспект урока «Дроби».pdf" and stored.content_type == "application/pdf"
    response = client.get(f"/files/{stored.id}")
    assert response.status_code == 200 and response.data == PDF
    assert response.mimetype == "application/pdf"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment")
    assert "filename*=UTF-8''%D0%9A%D0%BE%D0%BD%D1%81%D0%BF%D0%B5%D0%BA%D1%82" in disposition
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_product_checked_by_content_not_name(client, auth, district):
    route = district.route(state="in_progress")
    auth.login("teacher")
    response = _upload_product(client, route, EXE, "Конспект.pdf")
    assert response.status_code == 422
    assert "не принимается" in response.get_data(as_text=True)
    assert _stored_count() == 0
    db.session.expire_all()
    assert db.session.get(type(route), route.id).activities[0].status == "planned"


def test_product_zip_bomb_is_refused(client, auth, district):
    route = district.route(state="in_progress")
    auth.login("teacher")
    bomb = replace_member(make_docx(), "word/media/big.bin",
                          zipfile.ZipFile(io.BytesIO(zeros_member_zip("x", 8 * 1024 * 1024))).read("x"))
    response = _upload_product(client, route, bomb, "Разработка.docx")
    assert response.status_code == 422
    assert "бомба" in response.get_data(as_text=True)
    assert _stored_count() == 0


def test_product_over_the_cap_is_413(client, auth, district):
    from workflow import uploads
    route = district.route(state="in_progress")
    auth.login("teacher")
    big = PDF + b"0" * uploads.MAX_PRODUCT_FILE_BYTES
    response = _upload_product(client, route, big, "Большой.pdf")
    assert response.status_code == 413
    assert "слишком большой" in response.get_data(as_text=True)
    assert _stored_count() == 0


# --- HTTP: every upload URL refuses a body over its cap with 413, before reading it ---------------------

def _upload_urls(district):
    route = district.route(state="in_progress")
    return [
        ("teacher", f"/routes/{route.id}/activities/{route.activities[0].id}/result", "web",
         {"status": "done", "product": "П", "version": route.version}),
        ("admin", "/admin/templates/route", "web", {"note": "v2"}),
        ("curator", "/diagnostics/import", "web", {"threshold": ""}),
        ("curator", "/resources/import", "web", {}),
        ("curator", "/api/v1/diagnostics/imports", "api", {"dry_run": "true"}),
    ]


def test_every_upload_url_refuses_an_oversized_body_with_413(app, district):
    from views.http_security import FORM_OVERHEAD, _upload_limits
    from workflow import accounts
    limits = _upload_limits()
    assert set(limits) == {"web.activity_result", "documents.template_detail", "diagnostics.import_page",
                           "diagnostics.resources_import", "api_diagnostics.import_results"}
    for login, url, kind, fields in _upload_urls(district):
        client = app.test_client()
        user = getattr(district, {"teacher": "teacher", "admin": "admin", "curator": "curator"}[login])
        headers = {}
        if kind == "api":
            headers["Authorization"] = f"Bearer {accounts.issue_token(user, 1)[0]}"
        else:
            assert client.post("/login", data={"login": user.login, "password": "password-123"}).status_code == 302
        endpoint = app.url_map.bind("localhost").match(url, method="POST")[0]
        size = limits[endpoint] + FORM_OVERHEAD + 1024
        before = _stored_count()
        response = client.post(url, headers=headers, content_type="multipart/form-data",
                               data={**fields, "file": (io.BytesIO(PDF + b"0" * size), "big.pdf")})
        assert response.status_code == 413, url
        if kind == "api":
            assert "слишком большой" in response.get_json()["message"]
        else:
            assert "слишком большой" in response.get_data(as_text=True)
        assert _stored_count() == before, url


def test_template_upload_with_a_utf16_xml_bomb_is_refused(client, auth, district):
    from workflow import documents
    evil = replace_member(documents.builtin_bytes("route"), "word/settings.xml", UTF16_DOCTYPE)
    before = _stored_count()
    auth.login("admin")
    response = client.post("/admin/templates/route", content_type="multipart/form-data",
                           data={"note": "v2", "file": (io.BytesIO(evil), "route.docx")})
    assert response.status_code == 422
    assert "XML" in response.get_data(as_text=True)
    assert _stored_count() == before
