"""The interface speaks Russian by default and English on request; every UI string goes through Babel."""
import ast
import re
import sys
from pathlib import Path

from flask_babel import force_locale, gettext

from models import db
from tests.conftest import PASSWORD

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import i18n as catalog_tool  # noqa: E402

CYRILLIC = re.compile(r"[А-Яа-яЁё]")
GETTEXT_CALLS = {"_", "_l", "gettext", "lazy_gettext", "ngettext", "lazy_ngettext", "pgettext"}

# Official papers (DOCX content, the seeds' wording), demo data and import column aliases are Russian by
# design and never shown through the UI's catalog: a whole module (None) or the named top-level
# functions, classes and constants of a module.
RUSSIAN_BY_DESIGN = {
    # The route document's title, date and years wording, its sample context and the ZIP/file names.
    "workflow/documents.py": {"ru_long_date", "_years", "route_context", "sample_route_context", "_slug",
                              "route_filename", "stream_routes_zip"},
    "workflow/docx_render.py": None,
    "workflow/demo.py": None,
    "workflow/demo_diagnostics.py": None,
    "views/documents.py": {"_TRANSLIT"},  # Cyrillic letters for the ASCII fallback of download names
    # Seed data stored in the database (a new installation's municipality, its head's title).
    "workflow/accounts.py": {"default_municipality"},
    "models/org.py": {"Municipality"},
    # File-format contracts: CSV/XLSX column headers, header aliases, cell words and accepted input words.
    "workflow/exports.py": {"ROUTE_COLUMNS", "safe_cell"},
    "workflow/spreadsheets.py": {"YES", "NO", "normalize_header", "parse_flag", "key"},
    "workflow/resources.py": {"_KIND_WORDS", "_LEVEL_WORDS", "_FORMAT_WORDS", "_DIRECTION_WORDS", "COLUMNS",
                              "template_csv", "propose_activity_from_entry"},
    "views/api/diagnostics.py": {"_TRUE", "_FALSE"},
    "workflow/upload_checks.py": {"clean_filename"},  # the stored name of a nameless upload
    # Import columns and the template file; the road-map wording written into routes (official papers).
    "workflow/diagnostics.py": {"COLUMNS", "TEMPLATE_EXAMPLE", "template_xlsx", "RESULT_FORMS",
                                "activity_from_entry", "draft_route_from_diagnostic"},
    # The text of orders and of the monitoring report (DOCX), their file names and sample contexts.
    "workflow/orders.py": {"ROUTES_APPROVAL_TITLE", "ROUTES_APPROVAL_PREAMBLE", "ROUTES_APPROVAL_ITEMS",
                           "MONITORING_PREAMBLE", "MONITORING_ITEMS", "_prepare_monitoring", "_common_sample",
                           "sample_routes_approval_context", "sample_monitoring_context", "order_filename",
                           "stored_order_name"},
    "workflow/monitoring.py": {"DEFAULT_TITLE", "DEFAULT_ADDRESSEES", "DEFAULT_RECOMMENDATIONS", "LEGEND",
                               "MONTHS_IN", "order_title", "report_filename", "_genitive_teachers", "ru_period",
                               "_school_list", "_initials", "_academic_year", "report_context", "computed_line",
                               "sample_report_context"},
}

_JINJA_COMMENT = re.compile(r"\{#.*?#\}", re.S)
_JINJA_TRANS_BLOCK = re.compile(r"\{%-?\s*trans\b.*?%\}.*?\{%-?\s*endtrans\s*-?%\}", re.S)
_JINJA_GETTEXT = re.compile(
    r"\b(?:_|gettext|ngettext)\(\s*(['\"])(?:\\.|(?!\1).)*\1(?:\s*,\s*(['\"])(?:\\.|(?!\2).)*\2)?", re.S)


def _untranslated_template_lines(path):
    text = path.read_text(encoding="utf-8")
    for pattern in (_JINJA_COMMENT, _JINJA_TRANS_BLOCK, _JINJA_GETTEXT):
        text = pattern.sub(lambda match: "\n" * match.group(0).count("\n"), text)
    return [f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
            for number, line in enumerate(text.splitlines(), 1) if CYRILLIC.search(line)]


def test_templates_have_no_russian_outside_gettext():
    found = []
    for path in sorted((ROOT / "templates").rglob("*.html")):
        found += _untranslated_template_lines(path)
    assert not found, "Russian text outside _() in templates:\n" + "\n".join(found)


def _python_sources():
    for folder in ("views", "workflow", "models"):
        yield from sorted((ROOT / folder).rglob("*.py"))
    yield ROOT / "app.py"


def _untranslated_python_strings(path):
    relative = str(path.relative_to(ROOT))
    allowed_names = RUSSIAN_BY_DESIGN.get(relative, ())
    if allowed_names is None:
        return []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = set()
    for node in ast.walk(tree):
        # Docstrings are documentation, not interface.
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                skip.add(id(first.value))
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name in GETTEXT_CALLS:
                for arg in node.args:
                    for inner in ast.walk(arg):
                        skip.add(id(inner))
    for node in tree.body:
        names = set()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
        if names & set(allowed_names):
            skip.update(id(inner) for inner in ast.walk(node))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip \
                and CYRILLIC.search(node.value):
            found.append(f"{relative}:{node.lineno}: {node.value[:60]!r}")
    return found


def _gettext_inside_fstrings(path):
    """gettext calls written inside an f-string: pybabel cannot extract them, so they go untranslated."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            for inner in ast.walk(node):
                func = getattr(inner, "func", None)
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
                if isinstance(inner, ast.Call) and name in GETTEXT_CALLS:
                    found.append(f"{path.relative_to(ROOT)}:{inner.lineno}")
    return found


def test_no_gettext_inside_fstrings():
    found = [line for path in _python_sources() for line in _gettext_inside_fstrings(path)]
    assert not found, "gettext inside an f-string is not extractable:\n" + "\n".join(found)


def test_python_messages_go_through_gettext():
    found = []
    for path in _python_sources():
        found += _untranslated_python_strings(path)
    assert not found, "Russian strings outside gettext in Python:\n" + "\n".join(found)


def test_every_message_has_an_english_translation():
    missing = catalog_tool.missing([])
    assert not missing, f"{len(missing)} messages without an English translation, e.g. {missing[:10]}"


def test_catalog_has_messages():
    with open(catalog_tool.CATALOG, "rb") as handle:
        messages = [m for m in catalog_tool.read_po(handle) if m.id]
    assert len(messages) > 300


def test_russian_is_the_default(client):
    page = client.get("/login").get_data(as_text=True)
    assert '<html lang="ru">' in page
    assert "Войти" in page


def test_anonymous_visitor_switches_to_english_and_back(app, client):
    response = client.post("/language", data={"locale": "en", "next": "/login"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")
    page = client.get("/login").get_data(as_text=True)
    with app.test_request_context(), force_locale("en"):
        sign_in = gettext("Войти")
    assert sign_in != "Войти"
    assert '<html lang="en">' in page and sign_in in page and "Войти" not in page
    client.post("/language", data={"locale": "ru", "next": "/login"})
    assert "Войти" in client.get("/login").get_data(as_text=True)


def test_unknown_locale_and_foreign_next_change_nothing(client):
    response = client.post("/language", data={"locale": "xx", "next": "//evil.example/"})
    assert response.status_code == 302
    assert "evil.example" not in response.headers["Location"]
    assert '<html lang="ru">' in client.get("/login").get_data(as_text=True)


def test_signed_in_choice_is_remembered_for_the_user(app, district, client):
    teacher = district.teacher
    client.post("/login", data={"login": teacher.login, "password": PASSWORD})
    client.post("/language", data={"locale": "en", "next": "/"})
    db.session.refresh(teacher)
    assert teacher.locale == "en"
    # A new session of the same user starts in English.
    other = app.test_client()
    other.post("/login", data={"login": teacher.login, "password": PASSWORD})
    page = other.get("/routes").get_data(as_text=True)
    assert '<html lang="en">' in page
    with app.test_request_context(), force_locale("en"):
        label = gettext("Мои маршруты")
    assert label != "Мои маршруты" and label in page


def test_workflow_errors_follow_the_language(app, client):
    with app.test_request_context(), force_locale("en"):
        message = gettext("Маршрут не найден")
    assert message != "Маршрут не найден"
    response = client.get("/api/v1/routes/999999", headers={"Authorization": "Bearer nope",
                                                           "Accept-Language": "en-GB,en;q=0.8"})
    assert response.status_code == 401
    assert not CYRILLIC.search(response.get_json()["message"])


def _russian_left(page, data):
    """The page's Russian text once the given data values (names, titles: Russian by design) are removed."""
    for value in sorted(data, key=len, reverse=True):
        page = page.replace(str(value), "")
    return sorted({line.strip() for line in page.splitlines() if CYRILLIC.search(line)})


def test_admin_monitoring_and_import_pages_render_in_english(app, district, client):
    from workflow import diagnostics, monitoring
    district.admin.locale = "en"
    district.head.locale = "en"
    db.session.commit()
    campaign = monitoring.create_campaign(district.head, {"title": "Мониторинг разработки ИОМ",
                                                          "period_start": "27.03.2023", "period_end": "31.03.2023"})
    data = [user.full_name for user in (district.admin, district.head, district.school_head,
                                        district.other_school_head, district.curator, district.other_curator,
                                        district.teacher, district.other_teacher)]
    data += [district.school.name, district.other_school.name, district.municipality.name,
             campaign.title, campaign.addressees, campaign.recommendations, *campaign.addressees.splitlines(),
             *campaign.recommendations.splitlines()]
    data.append("Русский")  # the language switch names each language in that language
    # The import file's Russian column headers and flag words are its format, quoted as they are.
    data += diagnostics.RUSSIAN_HEADERS + ["да/нет"]
    with app.test_request_context(), force_locale("en"):
        expected = {"/admin/users": [gettext("Пользователи"), gettext("Новый пользователь"), gettext("ФИО или логин")],
                    f"/monitoring/{campaign.id}": [gettext("По общеобразовательным организациям"),
                                                   gettext("Адресаты и рекомендации"),
                                                   gettext("Подписать и сформировать отчёт")],
                    "/diagnostics/import": [gettext("Импорт результатов диагностики"), gettext("Формат файла"),
                                            gettext("Проверить файл")]}
    assert expected["/admin/users"][0] == "Users"
    pages = {}
    client.post("/login", data={"login": district.admin.login, "password": PASSWORD})
    pages["/admin/users"] = client.get("/admin/users").get_data(as_text=True)
    client.post("/logout")
    client.post("/login", data={"login": district.head.login, "password": PASSWORD})
    for url in (f"/monitoring/{campaign.id}", "/diagnostics/import"):
        response = client.get(url)
        assert response.status_code == 200, url
        pages[url] = response.get_data(as_text=True)
    for url, page in pages.items():
        assert '<html lang="en">' in page, url
        for label in expected[url]:
            assert label in page, (url, label)
        left = _russian_left(page, data)
        assert not left, f"Russian UI text on {url}:\n" + "\n".join(left)


def test_label_dicts_follow_each_requests_language(app, district, client):
    """The pages' label dicts are translated once per catalog (views/web.py): each language keeps its own."""
    from models.route import STAGE_LABELS, Stage
    route = district.route(state="drafted", activities=4)  # one activity in each stage
    client.post("/login", data={"login": district.teacher.login, "password": PASSWORD})
    russian = str(STAGE_LABELS[Stage.ANALYTICAL])  # the road map's stage headings come from STAGE_TITLES
    with app.test_request_context(), force_locale("en"):
        english = gettext(russian)
    assert english != russian
    for locale, label, other in [("en", english, russian), ("ru", russian, english), ("en", english, russian)]:
        client.post("/language", data={"locale": locale, "next": "/"})
        page = client.get(f"/routes/{route.id}").get_data(as_text=True)
        assert label in page and other not in page, locale


def test_api_language_without_cookies_comes_from_accept_language_alone(app, district, client):
    """A cookie-less API call has no session user: select_locale does not run flask-login's checks for it."""
    from flask import g
    from views.i18n import select_locale
    with app.test_request_context("/api/v1/routes", headers={"Accept-Language": "en-GB,en;q=0.8"}):
        english = select_locale()
        assert str(english) == "en"
        assert "_login_user" not in g.__dict__  # flask-login never looked for a user
    with app.test_request_context("/api/v1/routes"):
        assert str(select_locale()) == "ru"
    for header, expected in [("de, en;q=0.5", "en"), ("fr", "ru"), ("ru;q=0.2, en;q=0.9", "en"),
                             ("en;q=0.1, ru", "ru"), ("*", "ru")]:
        with app.test_request_context("/api/v1/routes", headers={"Accept-Language": header}):
            assert str(select_locale()) == expected, header
    with app.test_request_context("/api/v1/routes", headers={"Accept-Language": "en"}):
        assert select_locale() is english  # each language's Locale is made once
    with app.test_request_context("/routes", headers={"Accept-Language": "en"}):
        assert str(select_locale()) == "ru"  # pages follow the user's or the session's choice, not the header
        assert "_login_user" in g.__dict__


def test_api_call_with_a_session_cookie_keeps_the_signed_in_users_language(app, district, client):
    teacher = district.teacher
    teacher.locale = "en"
    db.session.commit()
    client.post("/login", data={"login": teacher.login, "password": PASSWORD})
    response = client.get("/api/v1/routes/999999")  # no token: 401, in the session user's language
    assert response.status_code == 401
    assert not CYRILLIC.search(response.get_json()["message"])


def test_template_texts_are_translated_once_per_catalog_and_read_as_before(app):
    """`_()` without variables is translated and escaped once per catalog; "%%" is still a percent
    sign, variables are still escaped, and each language keeps its own texts."""
    from babel import support
    from flask import render_template_string

    from views import i18n

    class Counting(support.NullTranslations):
        def __init__(self, texts):
            super().__init__()
            self.texts, self.asked = texts, []

        def ugettext(self, message):
            self.asked.append(message)
            return self.texts.get(message, message)

    russian = Counting({})
    english = Counting({"Маршрут": "Route", "Готово на 100 %%": "100 %% done"})
    assert i18n.template_gettext(russian) is i18n.template_gettext(russian)
    page = "{{ _('Маршрут') }} · {{ _('Готово на 100 %%') }} · {{ _('Педагог %(name)s', name=who) }}"
    with app.test_request_context():
        for _ in range(3):
            ru = render_template_string(page, who="<b>", **i18n.template_gettext(russian))
            en = render_template_string(page, who="<b>", **i18n.template_gettext(english))
            assert ru == "Маршрут · Готово на 100 % · Педагог &lt;b&gt;"
            assert en == "Route · 100 % done · Педагог &lt;b&gt;"
    # The two plain texts once each per catalog; the one with a variable on every render.
    for catalog in (russian, english):
        assert sorted(catalog.asked) == sorted(["Маршрут", "Готово на 100 %%"] + ["Педагог %(name)s"] * 3)
