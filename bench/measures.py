"""The benchmark's measurements: each returns Figures, the app's number beside a same-run baseline's.

Every function takes the Bench context (the scratch database, an in-process app bound to it and
what the generator made) and bounded iteration counts, so the smoke test can run each one tiny.
"""
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import event, select, text

from bench import load
from bench.generate import BENCH_PASSWORD, Generated
from bench.server import APP, BASELINE, ROOT, gunicorn


@dataclass
class Figure:
    """One line of the table: the app's number, the baseline's, their ratio and the goal."""

    number: int
    name: str
    value: float
    baseline: float
    unit: str
    ratio: float
    goal: str
    passed: bool
    note: str = ""
    # Wrong answers seen while measuring (non-2xx responses, differing figures or texts): never expected.
    errors: int = 0


@dataclass
class Bench:
    """What every measurement works on."""

    url: str
    app: object
    generated: Generated
    # A database with 10 routes, for query counts that must not grow with the data (measurement 6).
    small_url: str = ""
    small_app: object = None
    small_generated: Generated = None
    notes: list = field(default_factory=list)


def _ratio(value, baseline):
    return value / baseline if baseline else float("inf")


def _round_spread(app, base):
    """How the app's ratio to its baseline varied between the rounds of an interleaved load."""
    ratios = sorted(_ratio(a / a_s, b / b_s) for (a, a_s), (b, b_s) in zip(app.rounds, base.rounds))
    if not ratios:
        return ""
    return (f"per round {ratios[0]:.2f}–{ratios[-1]:.2f} (median {statistics.median(ratios):.2f}) "
            f"over {len(ratios)} rounds")


def _server_cpu(app, base, database_url):
    """The serving workers' CPU time per request beside the baseline's (the client's and, on PostgreSQL,
    the database server's CPU are not in it): what the req/s ratio would be with the machine to the
    servers alone. Empty when the load did not read the servers' CPU."""
    if not app.server_cpu or not base.server_cpu:
        return ""
    note = (f"; server CPU per request {app.server_cpu_ms:.2f} ms vs {base.server_cpu_ms:.2f} ms "
            f"(ratio {_ratio(base.server_cpu_ms, app.server_cpu_ms):.2f}; the gunicorn workers only")
    if not database_url.startswith("sqlite"):
        note += ", not the database server's"
    return note + ")"


def _median_time(fn, repeat):
    """Return the median wall time of `repeat` calls of fn (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _alternating_medians(functions, repeat):
    """Time the functions in turns, `repeat` times each (after one warm-up call of each); return their
    median wall times. Taking turns lets the machine's noise touch them alike."""
    for fn in functions:
        fn()
    times = tuple([] for _ in functions)
    for _ in range(repeat):
        for fn, bucket in zip(functions, times):
            started = time.perf_counter()
            fn()
            bucket.append(time.perf_counter() - started)
    return tuple(statistics.median(bucket) for bucket in times)


# --- tokens and logins prepared in-process ------------------------------------------------------------

def _reflected_routes(bench, count, skip=0):
    """Return [(route_id, teacher_token, curator_token, state, version)] for `count` reflected-cycle routes.

    Taken from the far end of the region (away from the curators whose pages measurement 2 opens),
    `skip` routes from the end, so each measurement writes its own routes and a route's history
    grows by a few events only, as in a real district.
    """
    from models import Route, User, db
    from workflow import accounts
    reflected = bench.generated.reflected
    end = max(len(reflected) - skip, min(count, len(reflected)))
    chosen = reflected[max(0, end - count):end]
    tokens = {}
    with bench.app.app_context():
        logins = {login for _, teacher, curator in chosen for login in (teacher, curator)}
        users = {u.login: u for u in db.session.execute(select(User).where(User.login.in_(logins))).scalars()}
        for login, user in users.items():
            tokens[login], _ = accounts.issue_token(user, ttl_hours=24)
        ids = [r for r, _, _ in chosen]
        rows = {}
        for start in range(0, len(ids), 500):
            rows.update({r.id: r for r in db.session.execute(
                select(Route.id, Route.state, Route.version).where(Route.id.in_(ids[start:start + 500])))})
    return [(route_id, tokens[teacher], tokens[curator], rows[route_id].state, rows[route_id].version)
            for route_id, teacher, curator in chosen]


def _transition_users(routes, users, bare=False, whole=False):
    result = []
    for i in range(users):
        mine = routes[i::users]
        # A route left in progress by an earlier run goes back to reflected first.
        kwargs = dict(versions={r: v for r, _, _, _, v in mine},
                      returned={r for r, _, _, state, _ in mine if state == "in_progress"})
        routes_of_user = [(r, t, c) for r, t, c, _, _ in mine]
        user = load.BareTransitionUser if bare else load.TransitionUser
        result.append(user(routes_of_user, whole=whole, **kwargs))
    return result


# --- 1. a transition through HTTP --------------------------------------------------------------------

TRANSITION_ANSWERS = (
    # (phase, the table's name, asks for the whole route, the lowest ratio the goal allows: None, reported)
    ("state", "Transition via HTTP API, answer: the new state (the default) (req/s)", False, 0.6),
    ("whole", "Transition via HTTP API, answer: the whole route (`Prefer: return=representation`) (req/s)",
     True, None),
)


def measure_transitions(bench, requests=3000, warmup=200, users=8, routes=1800):
    """1. Transitions per second through the API under gunicorn vs a bare UPDATE + INSERT endpoint.

    The API is loaded twice: as it answers by default, with the route's new state (what the bare
    endpoint answers too: its id and state), which the goal holds to 0.6; and asking for the whole route
    (`Prefer: return=representation`: sections, road map, history, allowed transitions, some 12 KB),
    which is reported beside it. Both servers run at once and the three loads take turns in alternating
    rounds, each on its own third of the chosen routes (the bare endpoint does not know about versions,
    the API checks them).
    """
    chosen = _reflected_routes(bench, routes)
    groups = {"bare": chosen[0::3], "state": chosen[1::3], "whole": chosen[2::3]}
    if not all(groups.values()):
        raise RuntimeError(f"measurement 1 needs at least 3 reflected routes, the data set has {len(chosen)}")
    users = max(1, min(users, *(len(g) for g in groups.values())))
    with gunicorn(BASELINE, bench.url) as bare_server, gunicorn(APP, bench.url) as app_server:
        # The bare load sends the default answer's requests (the like-for-like): the same headers and body.
        bare_users = _transition_users(groups["bare"], users, bare=True)
        phases = {"bare": (bare_server.base_url, bare_users)}
        for phase, _, whole, _ in TRANSITION_ANSWERS:
            phases[phase] = (app_server.base_url, _transition_users(groups[phase], users, whole=whole))
        cpu = {phase: (bare_server if phase == "bare" else app_server).cpu_seconds for phase in phases}
        stats = load.run_interleaved(phases, requests, warmup, cpu=cpu)
    base = stats["bare"]
    figures = []
    for phase, name, _, minimum in TRANSITION_ANSWERS:
        app = stats[phase]
        ratio = _ratio(app.rps, base.rps)
        failures = app.failures + base.failures
        note = (f"p95 {app.p95_ms:.0f} ms vs {base.p95_ms:.0f} ms; {users} clients each, "
                f"{len(groups[phase])} + {len(groups['bare'])} routes, {requests} requests each in "
                f"{len(app.rounds)} alternating rounds; {_round_spread(app, base)}"
                f"{_server_cpu(app, base, bench.url)}; the bare load sends the default answer's "
                f"headers and JSON body and reads its JSON answer")
        if failures:
            note += f"; NON-2xx: app {dict(app.statuses)}, bare {dict(base.statuses)}"
        goal = "reported" if minimum is None else f"≥ {minimum}"
        passed = not failures and (minimum is None or ratio >= minimum)
        figures.append(Figure(1, name, app.rps, base.rps, "req/s", ratio, goal, passed, note, failures))
    return figures


# --- 2. the route page and the curator queue ---------------------------------------------------------

def _page_targets(bench, users):
    """Return [(curator login, [route ids of their teachers])] for `users` curators."""
    from models import Route, User, db
    with bench.app.app_context():
        curators = db.session.execute(
            select(User.id, User.login).where(User.role == "curator").order_by(User.id).limit(users)).all()
        targets = []
        for curator_id, login in curators:
            ids = db.session.execute(select(Route.id).where(Route.curator_id == curator_id)
                                     .order_by(Route.id)).scalars().all()
            targets.append((login, ids))
    return targets


def measure_pages(bench, requests=1500, warmup=100, users=8):
    """2. The route page and the curator queue vs a bare endpoint with login and two SELECTs by key.

    The app and the baseline serve at once; the three loads alternate in rounds.
    """
    targets = _page_targets(bench, users)
    route_paths = {login: [f"/routes/{i}" for i in ids] for login, ids in targets}
    bare_paths = {login: [f"/bare/routes/{i}" for i in ids] for login, ids in targets}
    with gunicorn(BASELINE, bench.url) as bare_server, gunicorn(APP, bench.url) as app_server:
        stats = load.run_interleaved({
            "bare": (bare_server.base_url, [load.BarePageUser(login, BENCH_PASSWORD, bare_paths[login])
                                            for login, _ in targets]),
            "page": (app_server.base_url, [load.PageUser(login, BENCH_PASSWORD, route_paths[login])
                                           for login, _ in targets]),
            "queue": (app_server.base_url, [load.PageUser(login, BENCH_PASSWORD, ["/queue"])
                                            for login, _ in targets]),
        }, requests, warmup, cpu={"bare": bare_server.cpu_seconds, "page": app_server.cpu_seconds,
                                  "queue": app_server.cpu_seconds})
    base = stats["bare"]
    figures = []
    for name, key in (("Route page /routes/<id> (req/s)", "page"), ("Curator queue /queue (req/s)", "queue")):
        app = stats[key]
        ratio = _ratio(app.rps, base.rps)
        failures = app.failures + base.failures
        note = (f"p95 {app.p95_ms:.0f} ms vs {base.p95_ms:.0f} ms; {len(targets)} signed-in curators; "
                f"{_round_spread(app, base)}{_server_cpu(app, base, bench.url)}")
        if failures:
            note += f"; NON-2xx: app {dict(app.statuses)}, bare {dict(base.statuses)}"
        figures.append(Figure(2, name, app.rps, base.rps, "req/s", ratio, "≥ 0.5",
                              ratio >= 0.5 and not failures, note, failures))
    return figures


# --- 6. SQL queries per page ----------------------------------------------------------------------------

def _count_queries(app, login, paths):
    """Sign in through the form and return {path: (status, [SQL statements])}.

    Runs in a thread of its own, so no application context of the caller is shared: every request
    gets a fresh context and session, as in a worker.
    """
    from models import db
    with app.app_context():
        engine = db.engine
    counts, failure = {}, []
    statements = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    def work():
        client = app.test_client()
        page = client.get("/login").get_data(as_text=True)
        response = client.post("/login", data={"login": login, "password": BENCH_PASSWORD,
                                               "csrf_token": load.csrf_token(page)})
        if response.status_code != 302:
            raise RuntimeError(f"login of {login} failed: {response.status_code}")
        event.listen(engine, "before_cursor_execute", count)
        try:
            for path in paths:
                statements.clear()
                status = client.get(path).status_code
                counts[path] = (status, list(statements))
        finally:
            event.remove(engine, "before_cursor_execute", count)

    def guarded():
        try:
            work()
        except BaseException as exc:  # handed to the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=guarded)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return counts


# The pages whose query count must not grow, as (login, path): the same users and route in every data
# set. Route 6 is the sixth teacher's: in progress with a partly done road map, in school 1.
PAGES_FOR_COUNTING = [("curator0001", "/queue"), ("curator0001", "/routes/6"), ("curator0001", "/routes"),
                      ("head0001", "/routes"), ("dept01", "/routes"), ("teacher00006", "/routes/6")]


def measure_query_counts(bench):
    """6. SQL statements per page with 10 routes and at region scale: equal."""
    figures = []
    pairs = PAGES_FOR_COUNTING
    by_login = {}
    for login, path in pairs:
        by_login.setdefault(login, []).append(path)
    big, small = {}, {}
    for login, paths in by_login.items():
        for path, value in _count_queries(bench.app, login, paths).items():
            big[(login, path)] = value
        for path, value in _count_queries(bench.small_app, login, paths).items():
            small[(login, path)] = value
    for login, path in pairs:
        (big_status, big_sql), (small_status, small_sql) = big[(login, path)], small[(login, path)]
        ok = big_status == small_status == 200 and len(big_sql) == len(small_sql)
        note = "" if big_status == small_status == 200 else f"HTTP {small_status} / {big_status}"
        if len(big_sql) != len(small_sql):
            extra = list((Counter(big_sql) - Counter(small_sql)) or (Counter(small_sql) - Counter(big_sql)))
            note += " first differing statement: " + " ".join(extra[0].split())[:160]
        figures.append(Figure(6, f"SQL queries: {path} as {login}", len(big_sql), len(small_sql), "queries",
                              _ratio(len(big_sql), len(small_sql)), "= 1.0", ok, note.strip(),
                              int(big_status != 200) + int(small_status != 200)))
    return figures


# --- 7. memory of a worker after 10,000 transitions -------------------------------------------------

def measure_worker_memory(bench, transitions=10000, users=8, routes=2000, probe_every=500):
    """7. A gunicorn worker's RSS after `transitions` transitions vs after its first ~1,000: flat."""
    # Other routes than measurement 1's (which takes the last 1,800), when the region has them.
    chosen = _reflected_routes(bench, routes, skip=1800)
    users = min(users, len(chosen))
    with tempfile.TemporaryDirectory(prefix="iom-bench-probe-") as probe_dir:
        with gunicorn(APP, bench.url, probe_dir=probe_dir, probe_every=probe_every) as server:
            stats = load.run_load(server.base_url, _transition_users(chosen, users), transitions)
        probes = {}
        for path in Path(probe_dir).glob("worker-*.jsonl"):
            rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            if rows:
                probes[rows[0]["pid"]] = rows
    if not probes:
        raise RuntimeError("no worker probes were written")
    warm_at = max(probe_every, min(1000, transitions // 10))
    growth = []
    attached = 0
    for rows in probes.values():
        first = next((r for r in rows if r["requests"] >= warm_at), rows[0])
        last = rows[-1]
        growth.append((last["rss_kb"] / first["rss_kb"], first, last))
        attached = max(attached, max(r["machine_models"] or 0 for r in rows))
    ratio, first, last = max(growth, key=lambda g: g[0])
    note = (f"worker RSS {first['rss_kb'] / 1024:.1f} MB after {first['requests']} requests -> "
            f"{last['rss_kb'] / 1024:.1f} MB after {last['requests']}; {len(probes)} workers, "
            f"{stats.requests} transitions in all; MACHINE.models max {attached}")
    if stats.failures:
        note += f"; NON-2xx: {dict(stats.statuses)}"
    passed = ratio <= 1.05 and attached == 0 and not stats.failures
    return [Figure(7, f"Worker RSS after {transitions:,} transitions (MB)", last["rss_kb"] / 1024,
                   first["rss_kb"] / 1024, "MB", ratio, "≤ 1.05, models 0", passed, note, stats.failures)]


# --- 3. the monitoring figures ------------------------------------------------------------------------

RAW_FIGURES = """
SELECT s.id AS school_id,
       COUNT(DISTINCT p.teacher_id) AS c2,
       COUNT(DISTINCT CASE WHEN r.id IS NOT NULL THEN p.teacher_id END) AS b2
FROM schools s
LEFT JOIN (SELECT DISTINCT dr.teacher_id, dr.school_id
           FROM diagnostic_results dr JOIN diagnostics d ON d.id = dr.diagnostic_id
           WHERE d.municipality_id = :m AND d.held_on <= :period_end) p ON p.school_id = s.id
LEFT JOIN routes r ON r.teacher_id = p.teacher_id
     AND r.diagnostic_id IN (SELECT id FROM diagnostics WHERE municipality_id = :m AND held_on <= :period_end)
     AND (r.state IN ('curator_approved', 'in_progress', 'reflected')
          OR (r.state = 'closed'
              AND EXISTS (SELECT 1 FROM route_events e WHERE e.route_id = r.id AND e.event = 'approve')
              AND NOT EXISTS (SELECT 1 FROM route_events e WHERE e.route_id = r.id AND e.event = 'archive'
                              AND e.from_state = 'drafted')))
WHERE s.municipality_id = :m
GROUP BY s.id
"""


def raw_figures(municipality_id, period_end):
    """The baseline: one GROUP BY statement for C2 and B2 per school; totals and F2 summed up in Python."""
    from models import db
    rows = db.session.execute(text(RAW_FIGURES), {"m": municipality_id, "period_end": period_end}).all()
    schools = {r.school_id: (r.c2, r.b2, round(r.b2 * 100.0 / r.c2, 1) if r.c2 else None) for r in rows}
    c2, b2 = sum(r.c2 for r in rows), sum(r.b2 for r in rows)
    return {"schools": schools, "c2": c2, "b2": b2, "f2": round(b2 * 100.0 / c2, 1) if c2 else None}


def measure_monitoring(bench, repeat=7):
    """3. The monitoring figures for every municipality of the region vs the raw GROUP BY.

    The indicator (workflow.monitoring.indicator_figures: C2, B2, F2 per school and in total) against the
    goal; the monitoring page's whole computation (compute_figures: the indicator, and every school's
    routes by state and overdue activities, which the raw query does not count) reported beside it.
    The three are timed in turns, `repeat` times each, and compared by their medians.
    """
    from datetime import date
    from models import Municipality, db
    from workflow import monitoring
    period_end = date.today()
    with bench.app.app_context():
        municipalities = db.session.execute(select(Municipality.id).order_by(Municipality.id)).scalars().all()

        def indicator_all():
            return {m: monitoring.indicator_figures(m, period_end=period_end) for m in municipalities}

        def page_all():
            return {m: monitoring.compute_figures(m, period_end=period_end) for m in municipalities}

        def raw_all():
            return {m: raw_figures(m, period_end) for m in municipalities}

        indicator_seconds, page_seconds, raw_seconds = _alternating_medians((indicator_all, page_all, raw_all), repeat)
        indicator_result, page_result, raw_result = indicator_all(), page_all(), raw_all()
    mismatches = []
    c2 = b2 = 0
    for m in municipalities:
        indicator, page, raw = indicator_result[m], page_result[m], raw_result[m]
        c2, b2 = c2 + indicator["c2"], b2 + indicator["b2"]
        totals = (raw["c2"], raw["b2"], raw["f2"])
        if (indicator["c2"], indicator["b2"], indicator["f2"]) != totals:
            mismatches.append(f"municipality {m} totals")
        if (page["totals"]["c2"], page["totals"]["b2"], page["totals"]["f2"]) != totals:
            mismatches.append(f"municipality {m} page totals")
        for school_id, (school_c2, school_b2) in indicator["schools"].items():
            if (school_c2, school_b2, monitoring.f2_value(school_b2, school_c2)) != raw["schools"].get(school_id):
                mismatches.append(f"school {school_id}")
        for school in page["schools"]:
            if (school["c2"], school["b2"], school["f2"]) != raw["schools"].get(school["id"]):
                mismatches.append(f"school {school['id']} on the page")
    expected = (bench.generated.c2, bench.generated.b2)
    if (c2, b2) != expected:
        mismatches.append(f"region C2/B2 {c2}/{b2}, generated {expected[0]}/{expected[1]}")
    note = f"{len(municipalities)} municipalities (one campaign each), C2 {c2:,}, B2 {b2:,}; "
    if mismatches:
        note += "FIGURES DIFFER: " + ", ".join(mismatches[:5]) + "; "
    ratio = _ratio(indicator_seconds, raw_seconds)
    page_ratio = _ratio(page_seconds, raw_seconds)
    return [
        Figure(3, "Monitoring C2/B2/F2 per school and in total, all municipalities (s)", indicator_seconds,
               raw_seconds, "s", ratio, "≤ 1.5, < 1 s", ratio <= 1.5 and indicator_seconds < 1.0 and not mismatches,
               note + f"{indicator_seconds / len(municipalities) * 1000:.1f} ms per municipality", len(mismatches)),
        Figure(3, "Monitoring page: C2/B2/F2 with routes by state and overdue activities (s)", page_seconds,
               raw_seconds, "s", page_ratio, "reported (< 1 s)", page_seconds < 1.0 and not mismatches,
               f"{page_seconds / len(municipalities) * 1000:.1f} ms per municipality; counts more than the raw "
               "query: every school's routes by state and, of those under way, the activities past their deadline"),
    ]


# --- 4 and 5. documents -----------------------------------------------------------------------------------

W_NS = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
TEXT_PARTS = re.compile(r"^word/(document|header\d*|footer\d*|footnotes)\.xml$")


def docx_text(data):
    """Return the text of a DOCX (body, headers, footers, footnotes): paragraphs joined by new lines."""
    import io
    import zipfile
    from lxml import etree
    parts = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in sorted(n for n in archive.namelist() if TEXT_PARTS.match(n)):
            root = etree.fromstring(archive.read(name))
            for paragraph in root.iter(W_NS + "p"):
                pieces = []
                for node in paragraph.iter(W_NS + "t", W_NS + "tab", W_NS + "br"):
                    pieces.append(node.text or "" if node.tag == W_NS + "t" else
                                  "\t" if node.tag == W_NS + "tab" else "\n")
                parts.append("".join(pieces))
    return "\n".join(parts)


def _document_route_ids(bench, count):
    """The first `count` route ids by school and id: whole schools in every state, as an export takes them."""
    from models import Route, db
    with bench.app.app_context():
        return db.session.execute(select(Route.id).order_by(Route.school_id, Route.id).limit(count)).scalars().all()


def measure_route_docx(bench, repeat=15):
    """4. One route DOCX through the app vs a bare docxtpl load + render + save of the same template and context."""
    import io
    from datetime import date
    from docxtpl import DocxTemplate
    from models import Route, db
    from workflow import documents
    today = date.today()
    with bench.app.app_context():
        route_id = db.session.execute(select(Route.id).where(Route.state == "closed").order_by(Route.id)
                                      ).scalars().first()
        route = db.session.execute(documents.route_document_query().where(Route.id == route_id)
                                   ).unique().scalar_one()
        env = documents.make_env()
        template = str(documents.DOCX_DIR / "route.docx")
        context = documents.clean_context(documents.route_context(route, today=today))

        def bare():
            doc = DocxTemplate(template)
            doc.render(context, env, autoescape=True)
            out = io.BytesIO()
            doc.save(out)
            return out.getvalue()

        def app():
            return documents.render_docx("route", documents.route_context(route, today=today))

        app_seconds = _median_time(app, repeat)
        bare_seconds = _median_time(bare, repeat)
        same = docx_text(app()) == docx_text(bare())
    ratio = _ratio(app_seconds, bare_seconds)
    note = f"route {route_id} (closed, all five sections), median of {repeat}; text identical: {same}"
    return [Figure(4, "One route DOCX (s)", app_seconds, bare_seconds, "s", ratio, "≤ 1.0",
                   ratio <= 1.0 and same, note, int(not same))]


def _probe(mode, bench, ids_file, out_zip, today):
    result = subprocess.run([sys.executable, "-m", "bench.export_probe", mode, bench.url, ids_file, out_zip,
                             today.isoformat()], cwd=ROOT, capture_output=True, text=True, timeout=1800)
    if result.returncode:
        raise RuntimeError(f"export probe {mode} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure_bulk_export(bench, documents_count=1000):
    """5. A ZIP of `documents_count` route DOCX files vs as many bare docxtpl renders: speed, peak RSS, text."""
    import zipfile
    from datetime import date
    today = date.today()
    ids = _document_route_ids(bench, documents_count)
    with tempfile.TemporaryDirectory(prefix="iom-bench-export-") as tmp:
        ids_file = os.path.join(tmp, "ids.txt")
        Path(ids_file).write_text("\n".join(map(str, ids)))
        app_zip, bare_zip = os.path.join(tmp, "app.zip"), os.path.join(tmp, "bare.zip")
        app = _probe("app", bench, ids_file, app_zip, today)
        bare = _probe("bare", bench, ids_file, bare_zip, today)
        # The same export of a tenth as many documents: memory must not grow with their number.
        few_file = os.path.join(tmp, "few.txt")
        few_ids = ids[:max(1, len(ids) // 10)]
        Path(few_file).write_text("\n".join(map(str, few_ids)))
        few = _probe("app", bench, few_file, os.path.join(tmp, "few.zip"), today)
        differ = []
        with zipfile.ZipFile(app_zip) as made, zipfile.ZipFile(bare_zip) as plain:
            by_id = {}
            for name in made.namelist():
                match = re.search(r"№ (\d+)\.docx$", name)
                if match:
                    by_id[int(match.group(1))] = name
            for route_id in ids:
                name = by_id.get(route_id)
                if name is None or docx_text(made.read(name)) != docx_text(plain.read(f"{route_id}.docx")):
                    differ.append(route_id)
    speedup = _ratio(bare["seconds"], app["seconds"])
    peak_mb = app["peak_rss_kb"] / 1024
    identical = not differ and len(ids) == documents_count
    note = (f"{len(ids)} documents: {app['seconds']:.2f} s vs {bare['seconds']:.2f} s; peak RSS of the app "
            f"process while exporting {peak_mb:.1f} MB, of which {app['rss_before_kb'] / 1024:.1f} MB before the "
            f"export began (the app loaded, template compiled); bare docxtpl process {bare['peak_rss_kb'] / 1024:.1f} "
            f"MB; texts identical: {len(ids) - len(differ)}/{len(ids)}")
    if differ:
        note += f"; differing route ids: {differ[:10]}"
    return [
        Figure(5, f"Bulk ZIP of {len(ids):,} route DOCX (s)", app["seconds"], bare["seconds"], "s", speedup,
               "≥ 20× faster", speedup >= 20 and identical, note, len(differ)),
        Figure(5, "Bulk ZIP export: peak RSS vs RSS before it (MB)", peak_mb, app["rss_before_kb"] / 1024, "MB",
               _ratio(peak_mb, app["rss_before_kb"] / 1024), "< 100 MB", peak_mb < 100, ""),
        Figure(5, f"Bulk ZIP export: peak RSS at {len(ids):,} vs {len(few_ids):,} documents (MB)", peak_mb,
               few["peak_rss_kb"] / 1024, "MB", _ratio(app["peak_rss_kb"], few["peak_rss_kb"]), "≤ 1.05 (flat)",
               app["peak_rss_kb"] <= 1.05 * few["peak_rss_kb"], ""),
    ]
