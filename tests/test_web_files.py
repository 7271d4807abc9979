"""Products uploaded as files: Cyrillic names, size and type limits, downloads by id with access checks."""
import io
from urllib.parse import quote

import docx
from sqlalchemy import func, select

from models import Route, StoredFile, db
from workflow import uploads


PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def make_docx(text="Конспект урока «Дроби»"):
    document = docx.Document()
    document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _upload(client, route, name, data=PDF, status="done"):
    activity = route.activities[0]
    return client.post(f"/routes/{route.id}/activities/{activity.id}/result", data={
        "version": route.version, "status": status, "product": "Методическая разработка урока",
        "file": (io.BytesIO(data), name)}, content_type="multipart/form-data")


def _fresh(route_id):
    db.session.expire_all()
    return db.session.get(Route, route_id)


def test_upload_and_download_with_a_cyrillic_name(client, auth, district):
    route = district.route(state="in_progress")
    auth.login("teacher")
    content = make_docx()
    response = _upload(client, route, "Разработка урока «Дроби».docx", content)
    assert response.status_code == 302
    stored = _fresh(route.id).activities[0].product_file
    assert stored.original_name == "Разработка урока «Дроби».docx"
    assert stored.size == len(content) and len(stored.sha256) == 64
    assert stored.content_type.startswith("application/vnd.openxmlformats")

    for login in ["teacher", "curator", "director1", "head", "admin"]:
        auth.logout()
        auth.login(login)
        response = client.get(f"/files/{stored.id}")
        assert response.status_code == 200, login
        assert response.data == content
        disposition = response.headers["Content-Disposition"]
        assert disposition.startswith("attachment;")
        assert f"filename*=UTF-8''{quote('Разработка урока «Дроби».docx')}" in disposition
        assert "no-store" in response.headers["Cache-Control"]

    for login in ["teacher2", "curator2", "director2"]:
        auth.logout()
        auth.login(login)
        assert client.get(f"/files/{stored.id}").status_code == 404, login
    auth.logout()
    response = client.get(f"/files/{stored.id}")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_directories_in_the_name_are_dropped(client, auth, district):
    route = district.route(state="in_progress")
    auth.login("teacher")
    assert _upload(client, route, "..\\..\\Отчёт за I полугодие.pdf").status_code == 302
    assert _fresh(route.id).activities[0].product_file.original_name == "Отчёт за I полугодие.pdf"


def test_too_large_or_wrong_type_is_refused_and_changes_nothing(client, auth, district, monkeypatch):
    route = district.route(state="in_progress")
    auth.login("teacher")
    monkeypatch.setattr(uploads, "MAX_PRODUCT_FILE_BYTES", len(PDF) - 1)
    response = _upload(client, route, "Большой.pdf", PDF)
    assert response.status_code == 413
    text = response.get_data(as_text=True)
    assert "Файл слишком большой" in text and "нужно выбрать заново" in text
    assert "Методическая разработка урока" in text  # the product text stays in the form
    monkeypatch.undo()
    response = _upload(client, route, "скрипт.exe", b"MZ")
    assert response.status_code == 422 and "Этот тип файла не принимается" in response.get_data(as_text=True)
    response = _upload(client, route, "пустой.pdf", b"")
    assert response.status_code == 422 and "Файл пустой" in response.get_data(as_text=True)
    response = _upload(client, route, "Не документ.docx", b"MZ\x90\x00 an executable")
    assert response.status_code == 422 and "Этот тип файла не принимается" in response.get_data(as_text=True)
    fresh = _fresh(route.id)
    assert fresh.version == route.version and fresh.activities[0].status == "planned"
    assert db.session.execute(select(func.count(StoredFile.id))).scalar_one() == 0


def test_request_over_the_global_limit_is_413_in_russian(app, client, auth, district):
    route = district.route(state="in_progress")
    auth.login("teacher")
    app.config["MAX_CONTENT_LENGTH"] = 1000
    response = _upload(client, route, "Огромный.pdf", b"x" * 5000)
    assert response.status_code == 413
    assert "Файл слишком большой" in response.get_data(as_text=True)
    assert _fresh(route.id).version == route.version


def test_a_replaced_file_is_no_longer_served(client, auth, district):
    route = district.route(state="in_progress")
    auth.login("teacher")
    _upload(client, route, "Первый.pdf")
    first_id = _fresh(route.id).activities[0].product_file_id
    _upload(client, _fresh(route.id), "Второй.pdf")
    second_id = _fresh(route.id).activities[0].product_file_id
    assert second_id != first_id
    assert client.get(f"/files/{first_id}").status_code == 404
    assert client.get(f"/files/{second_id}").status_code == 200


def test_not_done_needs_a_reason_and_drops_no_input(client, auth, district):
    route = district.route(state="in_progress")
    activity = route.activities[0]
    auth.login("teacher")
    response = client.post(f"/routes/{route.id}/activities/{activity.id}/result", data={
        "version": route.version, "status": "not_done", "product": "Черновик продукта", "reason": ""})
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "Укажите причину невыполнения" in text and "Черновик продукта" in text
    response = client.post(f"/routes/{route.id}/activities/{activity.id}/result", data={
        "version": route.version, "status": "done", "product": "П", "product_url": "javascript:alert(1)"})
    assert response.status_code == 422 and "http://" in response.get_data(as_text=True)
    assert _fresh(route.id).activities[0].status == "planned"
