"""Route documents, the compiled renderer vs docxtpl, template uploads, the bulk ZIP, PDF and access."""
import importlib.util
import io
import os
import stat
import tracemalloc
import zipfile
from datetime import date, timedelta

import pytest
from docx import Document
from jinja2.exceptions import SecurityError
from lxml import etree
from sqlalchemy import func, select

from conftest import PASSWORD, activity_data
from models import DocumentTemplate, Route, db
from workflow import documents, service
from workflow.docx_render import CompiledDocx
from workflow.errors import InvalidInput, NotPermitted

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRICKY = "Иванова & Ко <b>\"жирный\"</b> 'кавычки' «ёлочки»\nвторая строка\tпосле табуляции"


# --- reading DOCX back ------------------------------------------------------------------------------

def blocks(data):
    """The document body in order: ("p", text) for paragraphs, ("table", [[cell texts]]) for tables."""
    doc = Document(io.BytesIO(data))
    out = []
    for child in doc.element.body.iterchildren():
        tag = etree.QName(child).localname
        if tag == "p":
            out.append(("p", _paragraph_text(doc, child)))
        elif tag == "tbl":
            rows = []
            for tr in child.iterchildren("{*}tr"):
                cells = []
                for tc in tr.iterchildren("{*}tc"):
                    cells.append("\n".join(_paragraph_text(doc, p) for p in tc.iterchildren("{*}p")))
                rows.append(cells)
            out.append(("table", rows))
    return out


def _paragraph_text(doc, element):
    from docx.text.paragraph import Paragraph
    return Paragraph(element, doc._body).text


def paragraphs(data):
    return [text for kind, text in blocks(data) if kind == "p" and text.strip()]


def tables(data):
    return [rows for kind, rows in blocks(data) if kind == "table"]


def all_text(data):
    parts = []
    for kind, value in blocks(data):
        if kind == "p":
            parts.append(value)
        else:
            parts.extend(cell for row in value for cell in row)
    return "\n".join(parts)


def document_xml(data):
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.read("word/document.xml")


def roadmap(data):
    """The road-map table (the one that starts with "ФИО полностью"), with merged cells collapsed."""
    for rows in tables(data):
        if rows and rows[0][0] == "ФИО полностью":
            return [list(dict.fromkeys(row)) if len(set(row)) == 1 else row for row in rows]
    raise AssertionError("no road-map table")


# --- filters ------------------------------------------------------------------------------------------

def test_russian_date_filters():
    assert documents.ru_date(date(2022, 9, 1)) == "01.09.2022"
    assert documents.ru_long_date(date(2022, 9, 1)) == "«01» сентября 2022 года"
    assert documents.ru_long_date(date(2023, 3, 27)) == "«27» марта 2023 года"
    assert documents.ru_date("2023-03-31") == "31.03.2023"
    assert documents.ru_date(None) == "" and documents.ru_long_date(None) == ""


# --- the built templates ------------------------------------------------------------------------------

def _build_script():
    spec = importlib.util.spec_from_file_location("build_docx_templates",
                                                  os.path.join(ROOT, "scripts", "build_docx_templates.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_templates_are_built_reproducibly_by_the_kept_script(tmp_path):
    script = _build_script()
    assert set(script.BUILDERS) >= {"route", "order_routes_approval", "order_monitoring"}
    assert sorted(os.listdir(os.path.join(ROOT, "docx_templates"))) == sorted(
        f for f in os.listdir(os.path.join(ROOT, "docx_templates")) if f.endswith(".docx"))
    for name in script.BUILDERS:
        built = script.build(name, tmp_path).read_bytes()
        assert built == (documents.DOCX_DIR / f"{name}.docx").read_bytes(), name
        styles = zipfile.ZipFile(io.BytesIO(built)).read("word/styles.xml").decode()
        assert 'w:ascii="Times New Roman"' in styles and 'w:cs="Times New Roman"' in styles


@pytest.mark.parametrize("name", ["route", "order_routes_approval", "order_monitoring"])
def test_builtin_templates_pass_their_own_upload_validation(app, name):
    documents.validate_template(name, documents.builtin_bytes(name))


# --- the route document -------------------------------------------------------------------------------

def test_route_document_prints_sections_roadmap_by_stage_state_and_approval(app, district):
    today = date.today()
    # Added in an order that is not the stages' order: the document groups by stage.
    items = [
        {**activity_data(0), "stage": "analytical", "deficit": "Анализ", "tasks": "Самоанализ",
         "deadline": date(2023, 5, 20).isoformat()},
        {**activity_data(0), "stage": "diagnostic_motivational", "deficit": "Диагностика",
         "deadline": date(2022, 9, 15).isoformat()},
        {**activity_data(0), "stage": "implementation", "deficit": "Открытый урок",
         "deadline": date(2023, 2, 10).isoformat()},
        {**activity_data(0), "stage": "diagnostic_motivational", "deficit": "Самооценка",
         "deadline": date(2022, 9, 30).isoformat()},
    ]
    # Build a fresh draft with these rows, then approve it through the workflow.
    fresh = service.create_route(district.teacher, data={
        "period_start": date(2022, 9, 1), "period_end": date(2023, 5, 31), "request": "Функциональная грамотность",
        "education": "Высшее педагогическое", "subject": "Математика", "experience_years": 12,
        "qualification_category": "Первая", "attestation_date": date(2021, 3, 15), "activities": items,
    })
    service.apply_transition(fresh.id, "request_review", district.teacher)
    service.apply_transition(fresh.id, "approve", district.curator)
    loaded = documents.load_route_document(fresh.id, district.teacher)
    data = documents.render_route_docx(loaded)

    text = paragraphs(data)
    assert text[0] == "Индивидуальный образовательный маршрут"
    assert "на период с 01.09.2022 по 31.05.2023" in text
    assert "Состояние маршрута: Утверждён куратором" in text
    assert f"Маршрут утверждён куратором: Пользователь curator, {today.strftime('%d.%m.%Y')}" in text
    assert "1. Общие сведения о педагоге" in text
    assert "2. Профессиональный запрос / затруднение / область затруднения" in text
    assert "Функциональная грамотность" in text
    assert "3. Дорожная карта индивидуального образовательного маршрута" in text
    assert not any(t.startswith("4. ") or t.startswith("5. ") for t in text)

    general = tables(data)[0]
    assert ["Педагогический стаж работы", "12 лет"] in general
    assert ["Дата прохождения аттестации", "15.03.2021"] in general
    assert ["Место работы", "СОШ № 1"] in general

    rows = roadmap(data)
    assert rows[0] == ["ФИО полностью", "Пользователь teacher"]
    assert rows[1] == ["Организация", "СОШ № 1"]
    assert rows[3] == ["Профессиональные дефициты/задачи на предстоящий период", "Образовательные задачи",
                       "Формы работы/взаимодействия по реализации образовательных задач",
                       "Сроки реализации (указать дату)", "Форма предъявления результата"]
    assert rows[4] == ["1", "2", "3", "4", "5"]
    body = [row[0] if len(row) == 1 else (row[0], row[3]) for row in rows[5:]]
    assert body == [
        "1. Диагностико-мотивационный этап", ("Диагностика", "15.09.2022"), ("Самооценка", "30.09.2022"),
        "3. Реализационный этап", ("Открытый урок", "10.02.2023"),
        "4. Аналитический этап", ("Анализ", "20.05.2023"),
    ]
    assert "Мероприятия не запланированы" not in all_text(data)


def test_draft_route_document_says_not_approved(app, district):
    route = district.route(state="drafted", activities=0)
    data = documents.render_route_docx(documents.load_route_document(route.id, district.teacher))
    text = paragraphs(data)
    assert "Состояние маршрута: Черновик" in text
    assert "Маршрут не утверждён куратором" in text
    assert "Мероприятия не запланированы" in all_text(data)


def test_closed_route_document_has_sections_four_and_five(app, district):
    route = district.route(state="closed", activities=2)
    data = documents.render_route_docx(documents.load_route_document(route.id, district.head))
    text = paragraphs(data)
    assert "Состояние маршрута: Закрыт" in text
    four = text.index("4. Саморефлексия профессионального пути и эффективности ИОМ")
    five = text.index("5. Рекомендации куратора")
    assert text[four + 1] == "Маршрут выполнен"
    assert text[five + 1] == "Курсы ПК"
    assert any(t.startswith("Маршрут утверждён куратором: Пользователь curator, ") for t in text)


def test_values_are_escaped_and_read_back_exactly(app, district):
    district.teacher.full_name = TRICKY
    db.session.commit()
    route = district.route(state="drafted", activities=1)
    service.update_route(route.id, district.teacher, {"request": TRICKY + "\r\nконец\x01"}, route.version)
    service.update_activity(route.id, route.activities[0].id, district.teacher,
                            {"deficit": TRICKY, "result_form": "A & B < C > D"},
                            service.load_route(route.id, district.teacher).version)
    data = documents.render_route_docx(documents.load_route_document(route.id, district.teacher))
    etree.fromstring(document_xml(data))  # well-formed XML
    rows = roadmap(data)
    assert rows[0] == ["ФИО полностью", TRICKY]
    assert rows[6][0] == TRICKY and rows[6][4] == "A & B < C > D"
    assert TRICKY + "\nконец" in paragraphs(data)
    assert "<b>" not in document_xml(data).decode("utf-8")


# --- the compiled renderer matches docxtpl ------------------------------------------------------------

def _canonical(xml_bytes):
    return etree.tostring(etree.fromstring(xml_bytes), method="c14n")


def _contexts(district):
    sample = documents.sample_route_context()
    tricky = documents.sample_route_context()
    tricky["teacher"]["full_name"] = TRICKY
    tricky["request"] = TRICKY
    tricky["stages"][0]["activities"][0]["tasks"] = TRICKY
    empty = documents.sample_route_context()
    empty.update(stages=[], reflection="", recommendations="", request="")
    empty["general"]["has_any"] = False
    empty["approval"] = {"approved": False, "by": "", "on": None}
    closed = district.route(state="closed", activities=5)
    real = documents.route_context(documents.load_route_document(closed.id, district.head))
    return [("route", sample), ("route", tricky), ("route", empty), ("route", real)] + [
        (name, documents.get_spec(name).sample_context()) for name in ("order_routes_approval", "order_monitoring")]


def test_compiled_renderer_gives_the_same_documents_as_plain_docxtpl(app, district):
    for name, context in _contexts(district):
        fast = documents.render_docx(name, context)
        reference = documents.render_docx_reference(name, context)
        assert all_text(fast) == all_text(reference), name
        assert blocks(fast) == blocks(reference), name
        assert _canonical(document_xml(fast)) == _canonical(document_xml(reference)), name
        with zipfile.ZipFile(io.BytesIO(fast)) as a, zipfile.ZipFile(io.BytesIO(reference)) as b:
            assert a.testzip() is None
            assert set(b.namelist()) <= set(a.namelist())
            assert a.read("word/styles.xml") == zipfile.ZipFile(
                io.BytesIO(documents.builtin_bytes(name))).read("word/styles.xml")


def test_compiled_renderer_matches_docxtpl_on_column_loops(app):
    """A template whose cell loop changes the column count takes docxtpl's fix_tables path too."""
    doc = Document()
    doc.add_paragraph("{{ title }}")
    table = doc.add_table(rows=2, cols=4)
    for row, (label, item) in zip(table.rows, [("Колонки", "{{ c }}"), ("Значения", "{{ c|upper }}")]):
        for cell, text in zip(row.cells, [label, "{%tc for c in cols %}", item, "{%tc endfor %}"]):
            cell.text = text
    out = io.BytesIO()
    doc.save(out)
    context = {"title": TRICKY, "cols": ["а & б", "<в>", "г\nд"]}
    fast = CompiledDocx(out.getvalue(), documents.make_env()).render(context)
    from workflow.docx_render import render_with_docxtpl
    reference = render_with_docxtpl(out.getvalue(), context, documents.make_env())
    assert blocks(fast) == blocks(reference)
    assert _canonical(document_xml(fast)) == _canonical(document_xml(reference))
    assert tables(fast)[0][0] == ["Колонки", "а & б", "<в>", "г\nд"]


def test_compiled_template_is_reused_between_renders(app):
    first = documents.compiled_template("route")
    documents.render_docx("route", documents.sample_route_context())
    assert documents.compiled_template("route") is first


# --- the fast paths' steps give what docxtpl's steps give -----------------------------------------------

@pytest.mark.parametrize("xml", [
    b"<a/>", b"<a><b></a>", b"<a>&foo;</a>", b'<a x="1" x="2"/>', b"<a>\x01</a>",
    b"<w:p>undeclared prefix</w:p>", b'<a xmlns:w="urn:w"><w:b>ok</w:b></a>',
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<a>\xd1\x91</a>', b"<a>", b"",
])
def test_the_well_formed_check_agrees_with_lxml(xml):
    from workflow.docx_render import _check_well_formed

    def verdict(check):
        try:
            check(xml)
            return True
        except etree.XMLSyntaxError:
            return False
    assert verdict(_check_well_formed) == verdict(etree.fromstring)


@pytest.mark.parametrize("xml", [
    '<w:body>\n<w:p><w:r><w:t>plain</w:t></w:r></w:p>\n<w:p w:x="1"><w:pPr/></w:p></w:body>',
    "<w:body>\n<w:p><w:r><w:t>{_{ a }_} {_% b %_} only { and }</w:t></w:r></w:p></w:body>",
    "<w:body>\n<w:p><w:r><w:t>line\nnext\ttab\aparagraph\fpage</w:t></w:r></w:p></w:body>",
    "<w:body>\n<w:p><w:r><w:t>} %_} alone</w:t></w:r></w:p>\n<w:pPr/></w:body>",
])
def test_post_render_on_bytes_runs_docxtpls_steps(xml):
    import re

    from workflow.docx_render import _TPL, _post_render_bytes
    # docxtpl's render_xml_part, after the Jinja render
    expected = re.sub(r"\n<w:p([ >])", r"<w:p\1", xml)
    expected = expected.replace("{_{", "{{").replace("}_}", "}}").replace("{_%", "{%").replace("%_}", "%}")
    expected = _TPL.resolve_listing(expected)
    assert _post_render_bytes(xml.encode("utf-8")) == expected.encode("utf-8")


@pytest.mark.parametrize("kind", ["documents", "pages"])
def test_dict_keys_read_in_templates_as_jinja_reads_them(app, kind):
    """workflow/jinja_lookup.py: the documents' sandbox and the pages' environment read dicts as Jinja does."""
    from flask.templating import Environment
    from jinja2.sandbox import SandboxedEnvironment
    source = ("{{ d.a }}|{{ d.missing }}|{{ d.items is callable }}|{{ d.items()|list|length }}|"
              "{{ d.get('a') }}|{{ d.__class__ is string }}|{{ d.b.c }}|{{ n.real }}|{{ d[1] }}")
    context = {"d": {"a": "<x & y>", "items": 1, "b": {"c": "вложенный"}, "__class__": "key", 1: "один"}, "n": 5}
    if kind == "documents":
        env, plain = documents.make_env(), SandboxedEnvironment(autoescape=True, finalize=documents._finalize)
    else:
        env, plain = app.jinja_env, Environment(app, autoescape=True)
    assert type(env).getattr is not type(plain).getattr  # the fast path is in use
    assert env.from_string(source).render(context) == plain.from_string(source).render(context) == (
        "&lt;x &amp; y&gt;||True|5|&lt;x &amp; y&gt;|False|вложенный|5|один")


def test_contexts_are_cleaned_through_every_level():
    from flask_babel import lazy_gettext
    assert documents.clean_text("a\r\nb\rc\x01d\ufffe\x0c") == "a\nb\ncd"
    kept = "обычный текст\tс табуляцией\nи строкой"
    assert documents.clean_text(kept) == kept
    when = date(2023, 3, 27)
    context = {"a": "x\x01", "n": 1, "f": 1.5, "yes": True, "none": None, "when": when,
               "rows": [{"t": "y\r\n", "deep": {"z": "\x07z"}}, ("k\x02",)], "label": lazy_gettext("Черновик")}
    assert documents.clean_context(context) == {
        "a": "x", "n": 1, "f": 1.5, "yes": True, "none": None, "when": when,
        "rows": [{"t": "y\n", "deep": {"z": "z"}}, ["k"]], "label": "Черновик"}


def test_sandbox_renders_nothing_dangerous_even_without_validation(app):
    """A template that skipped validation still cannot reach Python internals at render time."""
    single = _patched("route", "Индивидуальный образовательный маршрут</w:t>",
                      "Индивидуальный образовательный маршрут{{ teacher.__class__ }}{{ request.__len__ }}</w:t>")
    out = CompiledDocx(single, documents.make_env()).render(documents.sample_route_context())
    assert paragraphs(out)[0] == "Индивидуальный образовательный маршрут"
    chain = _patched("route", "Индивидуальный образовательный маршрут</w:t>",
                     "{{ ''.__class__.__mro__[1].__subclasses__() }}</w:t>")
    with pytest.raises(SecurityError):
        CompiledDocx(chain, documents.make_env()).render(documents.sample_route_context())


# --- uploads ------------------------------------------------------------------------------------------

def _patched(name, old, new, *, member="word/document.xml"):
    """The built-in template with one replacement in one member (a new version to upload)."""
    source = documents.builtin_bytes(name)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(source)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            if info.filename == member:
                text = content.decode("utf-8")
                assert old in text, old
                content = text.replace(old, new, 1).encode("utf-8")
            dst.writestr(info, content)
    return out.getvalue()


def _with_member(name, member, content):
    source = documents.builtin_bytes(name)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(source)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info, content if info.filename == member else src.read(info.filename))
        if member not in src.namelist():
            dst.writestr(member, content)
    return out.getvalue()


HEADING = "Индивидуальный образовательный маршрут</w:t>"


def _zip_bomb():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", b"<a>" + b" " * (30 * 1024 * 1024) + b"</a>")
    return out.getvalue()


def _without_document():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("readme.txt", "not a word document")
    return out.getvalue()


XML_BOMB = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
            b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
            b'<w:p><w:r><w:t>&lol2;</w:t></w:r></w:p></w:body></w:document>')

BAD_UPLOADS = {
    "not_a_zip": (lambda: b"%PDF-1.4 this is not a docx", "DOCX"),
    "zip_without_word_document": (_without_document, "Word"),
    "unknown_variable": (lambda: _patched("route", HEADING, "{{ secret_key }}</w:t>"), "secret_key"),
    "sandbox_escape_mro": (lambda: _patched("route", HEADING, "{{ ''.__class__.__mro__ }}</w:t>"), "__class__"),
    "sandbox_escape_subscript": (lambda: _patched("route", HEADING, "{{ teacher['__class__'] }}</w:t>"),
                                 "__class__"),
    "sandbox_escape_attr_filter": (lambda: _patched("route", HEADING, "{{ teacher|attr('__dict__') }}</w:t>"),
                                   "attr"),
    "sandbox_globals": (lambda: _patched("route", HEADING, "{{ cycler.__init__.__globals__ }}</w:t>"),
                        "__globals__"),
    "syntax_error": (lambda: _patched("route", HEADING, "{{ teacher.full_name </w:t>"), "синтаксическая"),
    "unknown_field": (lambda: _patched("route", HEADING, "{{ teacher.nmae }}</w:t>"), "nmae"),
    "huge_string": (lambda: _patched("route", HEADING, "{{ request * 100000000 }}</w:t>"), "запрещённое"),
    "macro": (lambda: _patched("route", HEADING, "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}</w:t>"),
              "Macro"),
    "broken_xml_after_render": (lambda: _patched("route", HEADING, "{{ request|safe }}</w:t>"), "safe"),
    "zip_bomb": (_zip_bomb, "бомб"),
    "xml_bomb": (lambda: _with_member("route", "word/document.xml", XML_BOMB), "XML"),
    "too_big": (lambda: b"PK\x03\x04" + os.urandom(documents.MAX_TEMPLATE_BYTES + 10), "МБ"),
}


@pytest.mark.parametrize("case", sorted(BAD_UPLOADS))
def test_bad_template_uploads_are_rejected_with_a_clear_message(app, district, case):
    make, expected = BAD_UPLOADS[case]
    with pytest.raises(InvalidInput) as caught:
        documents.upload_template("route", make(), "шаблон.docx", district.admin)
    assert expected in caught.value.message
    db.session.rollback()
    assert db.session.execute(select(func.count(DocumentTemplate.id))).scalar_one() == 0
    assert documents.active_version("route").file_id is None


def test_too_big_upload_over_the_web_is_refused(client, auth, district):
    auth.login("admin")
    response = client.post("/admin/templates/route",
                           data={"file": (io.BytesIO(b"PK\x03\x04" + b"0" * (documents.MAX_TEMPLATE_BYTES + 1)),
                                          "шаблон.docx")},
                           content_type="multipart/form-data")
    assert response.status_code in (413, 422)
    assert "МБ" in response.get_data(as_text=True)


@pytest.mark.parametrize("case", ["not_a_zip", "sandbox_escape_mro", "syntax_error", "zip_bomb", "unknown_field"])
def test_bad_uploads_over_the_web_show_the_message_never_a_500(client, auth, district, case):
    auth.login("admin")
    make, expected = BAD_UPLOADS[case]
    response = client.post("/admin/templates/route", data={"file": (io.BytesIO(make()), "шаблон.docx"), "note": ""},
                           content_type="multipart/form-data")
    assert response.status_code == 422
    assert expected in response.get_data(as_text=True)
    assert db.session.execute(select(func.count(DocumentTemplate.id))).scalar_one() == 0


def test_valid_upload_becomes_active_and_reset_restores_the_builtin(client, auth, district, app):
    new = _patched("route", HEADING, "Индивидуальный образовательный маршрут (версия управления)</w:t>")
    auth.login("admin")
    response = client.post("/admin/templates/route",
                           data={"file": (io.BytesIO(new), "Маршрут.docx"), "note": "Новая шапка"},
                           content_type="multipart/form-data")
    assert response.status_code == 302
    page = client.get("/admin/templates/route").get_data(as_text=True)
    assert "Новая шапка" in page and "действует" in page
    route = district.route(state="drafted")
    assert paragraphs(documents.render_route_docx(route))[0] == \
        "Индивидуальный образовательный маршрут (версия управления)"
    download = client.get("/admin/templates/route/template.docx")
    assert download.data == new
    sample = client.get("/admin/templates/route/sample.docx")
    assert "Иванова Мария Петровна" in all_text(sample.data)

    assert client.post("/admin/templates/route/reset").status_code == 302
    assert paragraphs(documents.render_route_docx(route))[0] == "Индивидуальный образовательный маршрут"
    versions = documents.template_versions("route")
    assert [v.version for v in versions] == [2, 1] and versions[0].is_builtin


@pytest.mark.parametrize("login", ["head", "curator", "teacher"])
def test_only_admins_manage_templates(client, auth, district, login):
    auth.login(login)
    assert client.get("/admin/templates").status_code == 403
    response = client.post("/admin/templates/route",
                           data={"file": (io.BytesIO(documents.builtin_bytes("route")), "t.docx")},
                           content_type="multipart/form-data")
    assert response.status_code == 403
    with pytest.raises(NotPermitted):
        documents.upload_template("route", documents.builtin_bytes("route"), "t.docx", getattr(district, login))


# --- downloads and access -------------------------------------------------------------------------------

@pytest.mark.parametrize("login, visible", [
    ("teacher", True), ("curator", True), ("director1", True), ("head", True), ("admin", True),
    ("teacher2", False), ("curator2", False), ("director2", False),
])
def test_route_docx_download_follows_route_visibility(client, auth, district, login, visible):
    route = district.route(state="curator_approved", activities=2)
    auth.login(login)
    response = client.get(f"/routes/{route.id}/document.docx")
    if not visible:
        assert response.status_code == 404
        return
    assert response.status_code == 200
    assert response.mimetype == documents.DOCX_MIME
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment; filename=\"IOM ")
    assert "filename*=UTF-8''%D0%98%D0%9E%D0%9C%20" in disposition  # "ИОМ " percent-encoded
    assert roadmap(response.data)[0] == ["ФИО полностью", "Пользователь teacher"]


def test_route_page_links_the_document(client, auth, district):
    route = district.route(state="curator_approved")
    auth.login("teacher")
    page = client.get(f"/routes/{route.id}").get_data(as_text=True)
    assert f"/routes/{route.id}/document.docx" in page


def test_anonymous_user_cannot_download(client, district):
    route = district.route()
    response = client.get(f"/routes/{route.id}/document.docx")
    assert response.status_code in (302, 401)


def test_route_docx_over_the_api(client, district):
    route = district.route(state="curator_approved")
    token = client.post("/api/v1/tokens", json={"login": "curator", "password": PASSWORD}).json["token"]
    other = client.post("/api/v1/tokens", json={"login": "teacher2", "password": PASSWORD}).json["token"]
    ok = client.get(f"/api/v1/routes/{route.id}/document.docx", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200 and ok.mimetype == documents.DOCX_MIME
    assert "filename*=UTF-8''" in ok.headers["Content-Disposition"]
    assert paragraphs(ok.data)[0] == "Индивидуальный образовательный маршрут"
    hidden = client.get(f"/api/v1/routes/{route.id}/document.docx", headers={"Authorization": f"Bearer {other}"})
    assert hidden.status_code == 404 and hidden.json["error"] == "not_found"
    assert client.get(f"/api/v1/routes/{route.id}/document.docx").status_code == 401


# --- PDF ----------------------------------------------------------------------------------------------

def test_without_libreoffice_pdf_links_are_absent_and_nothing_breaks(client, auth, district, monkeypatch):
    monkeypatch.setattr(documents.shutil, "which", lambda name, *a, **k: None)
    route = district.route(state="curator_approved")
    auth.login("teacher")
    page = client.get(f"/routes/{route.id}")
    assert page.status_code == 200
    assert "document.pdf" not in page.get_data(as_text=True)
    assert client.get(f"/routes/{route.id}/document.docx").status_code == 200
    response = client.get(f"/routes/{route.id}/document.pdf")
    assert response.status_code == 404
    assert "LibreOffice" in response.get_data(as_text=True)


FAKE_SOFFICE = """#!/bin/sh
# A stand-in for LibreOffice: writes <outdir>/<name>.pdf for the .docx it is given.
outdir=""; src=""
while [ $# -gt 0 ]; do
  case "$1" in
    --outdir) outdir="$2"; shift 2 ;;
    --convert-to) shift 2 ;;
    -*) shift ;;
    *) src="$1"; shift ;;
  esac
done
base=$(basename "$src" .docx)
printf '%%PDF-1.4\\n%% converted from %s\\n' "$base" > "$outdir/$base.pdf"
"""


def test_with_libreoffice_route_and_order_download_as_pdf(client, auth, district, tmp_path, monkeypatch):
    tool = tmp_path / "bin" / "soffice"
    tool.parent.mkdir()
    tool.write_text(FAKE_SOFFICE)
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tool.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    assert documents.pdf_available()
    route = district.route(state="curator_approved")
    auth.login("head")
    page = client.get(f"/routes/{route.id}").get_data(as_text=True)
    assert f"/routes/{route.id}/document.pdf" in page
    pdf = client.get(f"/routes/{route.id}/document.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    assert ".pdf" in pdf.headers["Content-Disposition"]
    client.post("/orders/new", data={"title": "Об утверждении ИОМ", "issued_on": "2024-09-02", "preamble": "",
                                     "route_ids": [str(route.id)]})
    order_page = client.get("/orders/1").get_data(as_text=True)
    assert "/orders/1/document.pdf" in order_page
    order_pdf = client.get("/orders/1/document.pdf")
    assert order_pdf.status_code == 200 and order_pdf.data.startswith(b"%PDF")


def test_libreoffice_is_looked_up_once_per_path(tmp_path, monkeypatch):
    """Pages ask pdf_available() for every document link; PATH is searched once per value of it."""
    searched = []
    real_which = documents.shutil.which

    def which(name, *args, **kwargs):
        searched.append(kwargs.get("path"))
        return real_which(name, *args, **kwargs)

    monkeypatch.setattr(documents.shutil, "which", which)
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert [documents.pdf_available() for _ in range(5)] == [False] * 5
    assert searched == [str(empty)]
    tool = tmp_path / "bin" / "soffice"
    tool.parent.mkdir()
    tool.write_text(FAKE_SOFFICE)
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tool.parent}{os.pathsep}{empty}")
    assert documents.pdf_available() and documents.pdf_available()
    assert searched == [str(empty), f"{tool.parent}{os.pathsep}{empty}"]


# --- the bulk ZIP -------------------------------------------------------------------------------------

def _zip_names_and_teachers(data):
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None
    result = []
    for name in archive.namelist():
        result.append((name, roadmap(archive.read(name))[0][1]))
    return result


def test_school_head_downloads_the_schools_routes_as_one_zip(client, auth, district):
    mine = [district.route(state=s) for s in ("drafted", "curator_approved", "closed")]
    district.route(teacher=district.other_teacher, state="curator_approved")
    auth.login("director1")
    response = client.get("/routes/export.zip")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert response.is_streamed
    assert "filename*=UTF-8''" in response.headers["Content-Disposition"]
    entries = _zip_names_and_teachers(response.data)
    assert len(entries) == 3
    assert {teacher for _, teacher in entries} == {"Пользователь teacher"}
    assert [name for name, _ in entries] == [f"СОШ № 1/ИОМ Пользователь teacher № {r.id}.docx" for r in mine]


def test_department_head_filters_the_zip_by_school_and_state(client, auth, district):
    district.route(state="curator_approved")
    district.route(state="drafted")
    other = district.route(teacher=district.other_teacher, state="curator_approved")
    auth.login("head")
    everything = _zip_names_and_teachers(client.get("/routes/export.zip").data)
    assert len(everything) == 3
    approved_other = client.get(f"/routes/export.zip?school_id={district.other_school.id}&state=curator_approved")
    assert [name for name, _ in _zip_names_and_teachers(approved_other.data)] == [
        f"СОШ № 2/ИОМ Пользователь teacher2 № {other.id}.docx"]
    page = client.get(f"/documents/export?school_id={district.other_school.id}").get_data(as_text=True)
    assert 'id="export-count">1<' in page


def test_zip_documents_match_plain_docxtpl(app, district):
    routes = [district.route(state="closed", activities=3), district.route(state="drafted", activities=0)]
    data = b"".join(documents.stream_routes_zip([r.id for r in routes], today=date(2024, 1, 9)))
    archive = zipfile.ZipFile(io.BytesIO(data))
    for route, name in zip(routes, archive.namelist()):
        loaded = documents.load_route_document(route.id, district.admin)
        reference = documents.render_docx_reference("route", documents.route_context(loaded, today=date(2024, 1, 9)))
        assert blocks(archive.read(name)) == blocks(reference)


@pytest.mark.parametrize("login, status", [("teacher", 403), ("curator2", 404), ("director2", 404)])
def test_zip_is_refused_or_empty_for_others(client, auth, district, login, status):
    district.route(state="curator_approved")
    auth.login(login)
    assert client.get(f"/routes/export.zip?school_id={district.school.id}").status_code == status


def test_zip_stream_memory_does_not_grow_with_the_number_of_routes(app, district):
    ids = [district.route(state="curator_approved", activities=4).id for _ in range(24)]
    db.session.expire_all()
    documents.compiled_template("route")

    def peak(route_ids):
        tracemalloc.start()
        try:
            chunks = 0
            for chunk in documents.stream_routes_zip(route_ids, batch=4):
                chunks += 1
                del chunk
            return tracemalloc.get_traced_memory()[1], chunks
        finally:
            tracemalloc.stop()

    peak(ids[:4])  # warm caches (compiled templates, mappers)
    small, small_chunks = peak(ids[:6])
    large, large_chunks = peak(ids)
    assert (small_chunks, large_chunks) == (7, 25)  # one chunk per document, then the directory
    # Four times the routes: the peak stays within a small margin (it holds one batch at a time).
    assert large < small * 1.5


# --- others' routes ------------------------------------------------------------------------------------

def test_route_document_of_a_missing_route_is_404(client, auth, district):
    auth.login("admin")
    assert client.get("/routes/999999/document.docx").status_code == 404


def test_route_without_a_curator_still_renders(app, district):
    teacher = district.user("loner", "teacher", district.school)
    route = service.create_route(teacher, data={"period_start": date.today(),
                                                "period_end": date.today() + timedelta(days=10)})
    loaded = documents.load_route_document(route.id, teacher)
    assert loaded.curator is None
    data = documents.render_route_docx(loaded)
    assert roadmap(data)[0] == ["ФИО полностью", "Пользователь loner"]
    assert "Маршрут не утверждён куратором" in paragraphs(data)
    assert db.session.get(Route, route.id) is not None
