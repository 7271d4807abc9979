"""Charts (server-side SVG), the district dashboard and the life-cycle diagram drawn from the machine."""
import re
import xml.etree.ElementTree as ET
from contextlib import contextmanager
from datetime import date

import pytest
from flask_babel import force_locale
from sqlalchemy import event

from models import Municipality, db
from tests.test_monitoring import dataset  # noqa: F401  (the hand-checked district fixture)
from workflow import accounts, charts, dashboard, diagram, monitoring
from workflow.machine import MACHINE
from workflow.states import STATE_LABELS, STATES, TRANSITIONS

SVG = "{http://www.w3.org/2000/svg}"
EVIL = '<script>alert("x")</script> & "Школа" <b>'


def parse(markup):
    """Parse a chart as XML (it must be well-formed) and return its root."""
    return ET.fromstring(str(markup))


def bars(markup):
    """{row label (from the row's <title>): [data-value of each bar rect]} of a chart."""
    rows = {}
    for group in parse(markup).iter(f"{SVG}g"):
        if group.get("class") != "bar":
            continue
        title = group.find(f"{SVG}title").text
        values = [rect.get("data-value") for rect in group.iter(f"{SVG}rect") if rect.get("data-value")]
        rows[title] = values
    return rows


def texts(markup, cls):
    return [node.text for node in parse(markup).iter(f"{SVG}text") if node.get("class") == cls]


# --- the SVG builder -----------------------------------------------------------------------------------

def test_bar_chart_escapes_labels_and_shows_numbers_and_axis():
    svg = charts.bar_chart("c1", 'Заголовок <"&">', [(EVIL, 40.0, "40 % (2/5)"), ("СОШ № 2", None, "—")],
                           maximum=100, suffix=" %")
    text = str(svg)
    assert "<script>" not in text and "<b>" not in text
    assert "&lt;script&gt;" in text and "&amp;" in text and "&#34;" in text
    root = parse(svg)  # well-formed despite the label
    assert root.find(f"{SVG}title").text == 'Заголовок <"&">'
    assert texts(svg, "value") == ["40 % (2/5)", "—"]
    assert texts(svg, "tick") == ["0 %", "20 %", "40 %", "60 %", "80 %", "100 %"]
    values = bars(svg)
    assert values[f"{EVIL}: 40 % (2/5)"] == ["40"] and values["СОШ № 2: —"] == []
    # The bar is 40 % of the scale.
    rect = next(r for r in root.iter(f"{SVG}rect") if r.get("data-value") == "40")
    background = next(r for r in root.iter(f"{SVG}rect") if r.get("fill") == "#f1f3f5")
    assert float(rect.get("width")) == pytest.approx(0.4 * float(background.get("width")), abs=0.1)


def test_stacked_bar_chart_counts_totals_legend_and_hatching():
    series = [charts.Series("a", "Альфа", "#111111"), charts.Series("b", 'Бета & <"b">', "#222222")]
    svg = charts.stacked_bar_chart("c2", "Состояния", [("СОШ № 1", {"a": 3, "b": 7}), ("СОШ № 2", {"a": 0, "b": 2})],
                                   series)
    root = parse(svg)
    assert texts(svg, "value") == ["10", "2"]
    segments = [(r.get("data-series"), r.get("data-value")) for r in root.iter(f"{SVG}rect") if r.get("data-series")]
    assert segments == [("a", "3"), ("b", "7"), ("b", "2")]
    legend = [node.text for g in root.iter(f"{SVG}g") if g.get("class") == "legend" for node in g.iter(f"{SVG}text")]
    assert legend == ["Альфа: 3", 'Бета & <"b">: 9']
    # Each series has its own pattern (colour plus hatching), so a black-and-white print tells them apart.
    patterns = {p.get("id") for p in root.iter(f"{SVG}pattern")}
    assert patterns == {"c2-p0", "c2-p1"}
    assert "<\"b\">" not in str(svg)


def test_nice_ticks_and_empty_charts():
    assert charts.nice_ticks(0) == [0, 1]
    assert charts.nice_ticks(7) == [0, 2, 4, 6, 8]
    assert charts.nice_ticks(52) == [0, 20, 40, 60]
    assert charts.nice_ticks(100) == [0, 20, 40, 60, 80, 100]
    empty = charts.bar_chart("e", "Пусто", [], empty_text="Нет школ")
    assert "Нет школ" in str(empty) and parse(empty) is not None
    assert "Нет школ" in str(charts.stacked_bar_chart("s", "Пусто", [], [], empty_text="Нет школ"))


# --- the charts of monitoring figures ------------------------------------------------------------------

def test_figure_charts_show_the_monitoring_figures_per_school(app, dataset):  # noqa: F811
    figures = monitoring.compute_figures(dataset.municipality.id, period_end=date(2023, 3, 31),
                                         today=date(2030, 1, 1))
    with app.test_request_context():
        drawn = dashboard.figure_charts(figures, "t")
    f2 = bars(drawn["f2"])
    states = bars(drawn["states"])
    overdue = bars(drawn["overdue"])
    for school in figures["schools"]:
        text = f"{monitoring.format_f2(school['f2'])} ({school['b2']}/{school['c2']})"
        assert f"{school['name']}: {text}" in f2
        expected_f2 = [] if not school["f2"] else [charts._number(school["f2"])]
        assert f2[f"{school['name']}: {text}"] == expected_f2
        row = next(values for title, values in states.items() if title.startswith(school["name"] + " — "))
        assert [int(v) for v in row] == [school["routes"][s] for s in STATES if school["routes"][s]]
        assert f"{school['name']}: {school['overdue']}" in overdue
    assert texts(drawn["f2"], "value") == ["40 % (2/5)", "33,3 % (1/3)", "— (0/0)"]
    assert texts(drawn["states"], "value") == [str(s["routes_total"]) for s in figures["schools"]]
    assert sum(int(v) for v in texts(drawn["overdue"], "value")) == figures["totals"]["overdue"] == 2


def test_campaign_page_escapes_a_malicious_school_name(client, auth, dataset):  # noqa: F811
    accounts.create_school(EVIL, dataset.municipality)
    campaign = monitoring.create_campaign(dataset.head, {"title": "Мониторинг", "period_start": "27.03.2023",
                                                         "period_end": "31.03.2023"})
    auth.login("head")
    page = client.get(f"/monitoring/{campaign.id}").get_data(as_text=True)
    assert "<script>alert" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#34;Школа&#34; &lt;b&gt;" in page
    for chart_id in ("monitoring-f2", "monitoring-states", "monitoring-overdue"):
        match = re.search(rf'<svg [^>]*id="{chart_id}".*?</svg>', page, re.S)
        assert match, chart_id
        parse(match.group(0))


# --- the dashboard --------------------------------------------------------------------------------------

@pytest.fixture
def elsewhere(district):
    """Another municipality with a school, to check that its ids do not open."""
    municipality = Municipality(name="МО Соседний район")
    db.session.add(municipality)
    db.session.commit()
    school = accounts.create_school("СОШ № 9", municipality)
    return municipality, school


@pytest.mark.parametrize("login, url, status", [
    ("head", "/dashboard", 200),
    ("head", "/dashboard?school={school}", 200),
    ("head", "/dashboard?school={foreign_school}", 404),
    ("head", "/dashboard?municipality={foreign}", 404),
    ("director1", "/dashboard", 200),
    ("director1", "/dashboard?school={school}", 200),
    ("director1", "/dashboard?school={other_school}", 404),
    ("director1", "/dashboard?municipality={foreign}", 404),
    ("admin", "/dashboard", 200),
    ("admin", "/dashboard?municipality={foreign}", 200),
    ("admin", "/dashboard?municipality={foreign}&school={school}", 404),
    ("admin", "/dashboard?municipality=999999", 404),
    ("teacher", "/dashboard", 403),
    ("curator", "/dashboard", 403),
])
def test_dashboard_access_per_role(client, auth, district, elsewhere, login, url, status):
    foreign, foreign_school = elsewhere
    auth.login(login)
    url = url.format(school=district.school.id, other_school=district.other_school.id, foreign=foreign.id,
                     foreign_school=foreign_school.id)
    assert client.get(url).status_code == status


def test_dashboard_signed_out_goes_to_login(client, district):
    response = client.get("/dashboard")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_dashboard_shows_live_figures_and_a_school_head_only_their_school(client, auth, dataset):  # noqa: F811
    today_figures = monitoring.compute_figures(dataset.municipality.id, period_end=date.today())
    auth.login("head")
    page = client.get("/dashboard").get_data(as_text=True)
    totals = today_figures["totals"]
    assert f'id="total-c2">{totals["c2"]}<' in page and f'id="total-b2">{totals["b2"]}<' in page
    assert f'id="total-f2">{monitoring.format_f2(totals["f2"])}<' in page
    for chart_id in ("dashboard-f2", "dashboard-states", "dashboard-overdue"):
        assert f'id="{chart_id}"' in page
    assert "СОШ № 1" in page and "СОШ № 2" in page and "СОШ № 3" in page
    client.post("/logout")
    auth.login("director2")
    page = client.get("/dashboard").get_data(as_text=True)
    second = next(s for s in today_figures["schools"] if s["name"] == "СОШ № 2")
    assert f'id="total-c2">{second["c2"]}<' in page and f'id="total-b2">{second["b2"]}<' in page
    chart = re.search(r'<svg [^>]*id="dashboard-states".*?</svg>', page, re.S).group(0)
    assert [title.split(" — ")[0] for title in bars(chart)] == ["СОШ № 2"]
    assert 'id="d-school"' not in page


@contextmanager
def counted():
    statements = []

    def before(*args):
        statements.append(1)

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", before)


def test_dashboard_query_count_does_not_grow_with_schools_and_routes(client, auth, district):
    auth.login("head")
    client.get("/dashboard")

    def measure():
        client.get("/dashboard")  # warm up: reload the user and the municipality the test expired
        with counted() as statements:
            assert client.get("/dashboard").status_code == 200
        return len(statements)

    before = measure()
    for n in range(3, 8):  # schools with teachers, diagnostics-free routes and overdue-free activities
        school = accounts.create_school(f"СОШ № {n}", district.municipality)
        teacher = district.user(f"extra{n}", "teacher", school)
        accounts.assign_curator(teacher, district.curator)
        district.route(teacher=teacher, state="in_progress")
    assert measure() == before


def test_menu_links_the_dashboard_for_heads_only(client, auth, district):
    auth.login("head")
    assert 'href="/dashboard"' in client.get("/routes").get_data(as_text=True)
    client.post("/logout")
    auth.login("teacher")
    page = client.get("/routes").get_data(as_text=True)
    assert 'href="/dashboard"' not in page and 'href="/help/workflow"' in page


# --- the life-cycle diagram ------------------------------------------------------------------------------

def _edges(source):
    """{(source, dest): [labels]} from the Mermaid source."""
    edges = {}
    for line in source.splitlines():
        match = re.fullmatch(r"\s*(\w+) --> (\w+): (.*)", line)
        if match:
            edges[(match.group(1), match.group(2))] = [part.strip() for part in match.group(3).split("|")]
    return edges


@pytest.mark.parametrize("locale", ["ru", "en"])
def test_diagram_has_every_state_and_transition(app, locale):
    with app.test_request_context(), force_locale(locale):
        source = diagram.mermaid_source()
        assert "stateDiagram-v2" in source
        for state in STATES:
            assert f'state "{diagram.mermaid_text(STATE_LABELS[state])}" as {state}' in source
        edges = _edges(source)
        expected = {}
        for spec in TRANSITIONS:
            for src in spec["source"]:
                expected.setdefault((src, spec["dest"]), []).append(diagram.mermaid_text(spec["label"]))
        assert edges == expected
        assert f"[*] --> {STATES[0]}" in source
    # The diagram is drawn by a machine of its own: the shared machine stays without models.
    assert MACHINE.models == []


def test_diagram_follows_the_definition(app, monkeypatch):
    """A transition added to the data shows in the picture without touching the diagram code."""
    extra = {"trigger": "reopen", "label": "Переоткрыть маршрут", "source": ["closed"], "dest": "in_progress",
             "actors": ["curator"], "guards": [], "comment_required": True}
    monkeypatch.setattr(diagram, "TRANSITIONS", TRANSITIONS + [extra])
    with app.test_request_context():
        assert _edges(diagram.mermaid_source())[("closed", "in_progress")] == ["Переоткрыть маршрут"]


def test_mermaid_text_cannot_break_the_syntax():
    assert diagram.mermaid_text('a "b"; c: d\n--> e | f #g') == "a b c d -- e f g"


def test_help_page_renders_the_diagram_with_a_local_script(client, auth, district):
    auth.login("teacher")
    response = client.get("/help/workflow")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'class="mermaid' in page and "stateDiagram-v2" in page
    for spec in TRANSITIONS:
        assert f'id="transition-{spec["trigger"]}"' in page and str(spec["label"]) in page
    sources = re.findall(r'<script[^>]*src="([^"]+)"', page)
    assert "/static/vendor/mermaid/mermaid.min.js" in sources
    assert all(src.startswith("/") and not src.startswith("//") for src in sources)
    assert "cdn" not in page.lower()
    script = client.get("/static/vendor/mermaid/mermaid.min.js")
    assert script.status_code == 200 and b"mermaid" in script.data[:100000]
    script.close()


def test_help_page_in_english(client, auth, district):
    auth.login("teacher")
    client.post("/language", data={"locale": "en", "next": "/"})
    page = client.get("/help/workflow").get_data(as_text=True)
    assert "Route life cycle" in page


def test_help_page_needs_sign_in(client, district):
    response = client.get("/help/workflow")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
