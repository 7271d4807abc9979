"""Messages of the business layer and the API follow the language; official papers stay Russian."""
import io
import re
import zipfile

import pytest
from flask_babel import force_locale, gettext

from conftest import PASSWORD
from models.route import STAGE_LABELS, Stage
from workflow import documents, service
from workflow.errors import InvalidInput
from workflow.states import STATE_LABELS

API = "/api/v1"
CYRILLIC = re.compile(r"[А-Яа-яЁё]")


def _token(client, login):
    response = client.post(f"{API}/tokens", json={"login": login, "password": PASSWORD})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["token"]


def _headers(token, language=None):
    headers = {"Authorization": f"Bearer {token}"}
    if language:
        headers["Accept-Language"] = language
    return headers


def _english(app, message):
    with app.test_request_context(), force_locale("en"):
        return gettext(message)


def test_transition_guard_failure_speaks_the_callers_language(app, client, district):
    route = district.route(activities=0)
    token = _token(client, "teacher")
    payload = {"trigger": "request_review", "version": route.version}
    reason = "В дорожной карте нет ни одного мероприятия"

    english = client.post(f"{API}/routes/{route.id}/transitions", json=payload,
                          headers=_headers(token, "en-US,en;q=0.9"))
    assert english.status_code == 409
    body = english.get_json()
    assert body["error"] == "transition_not_allowed"
    assert body["message"] == _english(app, reason) == "The road map has no activities"

    russian = client.post(f"{API}/routes/{route.id}/transitions", json=payload, headers=_headers(token))
    assert russian.status_code == 409
    assert russian.get_json() == {"error": "transition_not_allowed", "message": reason}


def test_not_found_speaks_the_callers_language(app, client, district):
    token = _token(client, "teacher")
    english = client.get(f"{API}/routes/999999", headers=_headers(token, "en"))
    assert english.status_code == 404
    body = english.get_json()
    assert body["error"] == "not_found"
    assert body["message"] == _english(app, "Маршрут не найден") and not CYRILLIC.search(body["message"])

    russian = client.get(f"{API}/routes/999999", headers=_headers(token))
    assert russian.status_code == 404
    assert russian.get_json() == {"error": "not_found", "message": "Маршрут не найден"}


def test_allowed_transitions_and_validation_details_are_translated(client, district):
    route = district.route(activities=0)
    token = _token(client, "teacher")
    body = client.get(f"{API}/routes/{route.id}", headers=_headers(token, "en")).get_json()
    reasons = {t["trigger"]: t["reason"] for t in body["allowed_transitions"]}
    assert reasons["request_review"] == "The road map has no activities"
    assert not any(CYRILLIC.search(t["reason"] or "") for t in body["allowed_transitions"])

    bad = client.post(f"{API}/routes/{route.id}/transitions", json={"trigger": "request_review"},
                      headers=_headers(token, "en"))
    assert bad.status_code == 422
    assert not CYRILLIC.search(bad.get_json()["message"])
    assert bad.get_json()["details"] == {"version": ["Required field."]}


def test_openapi_document_follows_the_language(client):
    english = client.get(f"{API}/openapi.json", headers={"Accept-Language": "en"})
    russian = client.get(f"{API}/openapi.json")
    assert english.status_code == russian.status_code == 200
    assert not CYRILLIC.search(english.get_json()["info"]["description"])
    assert CYRILLIC.search(russian.get_json()["info"]["description"])


def test_errors_raised_outside_a_request_are_russian(app):
    # The CLI and background jobs have no request: messages fall back to the Russian source.
    error = InvalidInput(gettext("Окончание периода раньше его начала"))
    assert error.message == "Окончание периода раньше его начала"
    assert str(STATE_LABELS["drafted"]) == "Черновик"


def _document_text(data):
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return re.sub(r"<[^>]+>", "", archive.read("word/document.xml").decode("utf-8"))


def test_route_document_stays_russian_for_an_english_reader(app, district):
    route = district.route(state="curator_approved")
    stage = Stage(route.activities[0].stage)
    with app.test_request_context(headers={"Accept-Language": "en"}), force_locale("en"):
        english_state = str(STATE_LABELS["curator_approved"])
        english_stage = str(STAGE_LABELS[stage])
        assert english_state == "Approved by the curator"
        text = _document_text(documents.render_route_docx(service.load_route(route.id, district.teacher)))
    assert "Утверждён куратором" in text and english_state not in text
    assert str(STAGE_LABELS[stage]) in text and english_stage not in text


def test_template_upload_errors_speak_the_admins_language(app, client, district):
    from test_documents import HEADING, _patched
    district.admin.locale = "en"
    documents.db.session.commit()
    client.post("/login", data={"login": district.admin.login, "password": PASSWORD})

    listing = client.get("/admin/templates").get_data(as_text=True)
    assert "Individual educational route" in listing and "Индивидуальный образовательный маршрут" not in listing

    cases = [(b"", _english(app, "Файл пустой")),
             (_patched("route", HEADING, "{{ secret_key }}</w:t>"), "Template rejected: unknown variables: secret_key"),
             (_patched("route", HEADING, "{{ teacher.nmae }}</w:t>"),
              "Template rejected: the template refers to data that does not exist")]
    assert cases[0][1] != "Файл пустой"
    for data, expected in cases:
        response = client.post("/admin/templates/route", data={"file": (io.BytesIO(data), "template.docx"), "note": ""},
                               content_type="multipart/form-data")
        assert response.status_code == 422
        page = response.get_data(as_text=True)
        assert expected in page
        assert "Шаблон не принят" not in page and "Файл пустой" not in page

    # The template's own archive checks (the shared upload checks usually answer first).
    for data, message in [(b"", "Файл пустой"),
                          (b"%PDF-1.4 not a docx", "Файл не является документом DOCX (ожидается ZIP-архив Word)")]:
        with app.test_request_context(), force_locale("en"):
            with pytest.raises(InvalidInput) as english:
                documents.validate_template("route", data)
            assert english.value.message == gettext(message) != message
        with app.test_request_context(), force_locale("ru"):
            with pytest.raises(InvalidInput) as russian:
                documents.validate_template("route", data)
            assert russian.value.message == message

    # The admin's English does not reach the paper: the route document stays Russian.
    route = district.route(state="curator_approved")
    with app.test_request_context(), force_locale("en"):
        text = _document_text(documents.render_route_docx(service.load_route(route.id, district.admin)))
    assert "Индивидуальный образовательный маршрут" in text and "Individual educational route" not in text
