"""The benchmark at a tiny scale: the generated data set's shape, and every measurement runs and answers numbers.

No timing is asserted: the benchmark itself (`make bench`) judges the figures against same-run baselines.
"""
import math

import pytest
from sqlalchemy import func, inspect, select

from bench import measures
from bench.generate import RESULTS_PER_TEACHER, expected_state_counts, generate
from bench.scratch import scratch_database
from models import Activity, Correction, DiagnosticResult, Route, RouteEvent, User, db
from workflow.machine import MACHINE
from workflow.states import STATES, TRANSITIONS_BY_TRIGGER

SCHOOLS, TEACHERS_PER_SCHOOL, ACTIVITIES = 4, 10, 4
ROUTES = SCHOOLS * TEACHERS_PER_SCHOOL


@pytest.fixture
def bench(tmp_path):
    """The tiny region and a 10-route district, in scratch databases set up as `make bench` sets them up
    (SQLite files here, or databases on the PostgreSQL server DATABASE_URL names)."""
    with scratch_database(name="smoke", directory=tmp_path) as (url, app, _), \
            scratch_database(name="smoke-small", directory=tmp_path) as (small_url, small_app, _):
        with small_app.app_context():
            small = generate(db.engine, schools=1, teachers_per_school=10, activities_per_route=ACTIVITIES)
        with app.app_context():
            generated = generate(db.engine, schools=SCHOOLS, teachers_per_school=TEACHERS_PER_SCHOOL,
                                 activities_per_route=ACTIVITIES)
            yield measures.Bench(url=url, app=app, generated=generated, small_url=small_url,
                                 small_app=small_app, small_generated=small)
            db.session.remove()


def _replay(events):
    """Replay a route's audit trail from the draft; return the state it leads to."""
    state = "drafted"
    for event in events:
        if event.event.startswith("correction_"):
            assert event.from_state == event.to_state == state
            continue
        spec = TRANSITIONS_BY_TRIGGER[event.event]
        assert state in spec["source"] and event.from_state == state and event.to_state == spec["dest"]
        state = event.to_state
    return state


def test_generated_data_set_has_the_planned_shape(bench):
    generated = bench.generated
    states = dict(db.session.execute(select(Route.state, func.count()).group_by(Route.state)).all())
    assert states == dict(expected_state_counts(ROUTES)) == dict(generated.states)
    assert set(states) == set(STATES)
    assert generated.counts["routes"] == ROUTES
    per_route = db.session.execute(select(Activity.route_id, func.count()).group_by(Activity.route_id)).all()
    assert len(per_route) == ROUTES and {count for _, count in per_route} == {ACTIVITIES}
    assert db.session.execute(select(func.count()).select_from(User).where(User.role == "teacher")
                              ).scalar_one() == ROUTES
    results = db.session.execute(select(DiagnosticResult.teacher_id, func.count())
                                 .group_by(DiagnosticResult.teacher_id)).all()
    assert len(results) == ROUTES and {count for _, count in results} == {RESULTS_PER_TEACHER}
    assert generated.c2 == ROUTES

    events = {}
    for event in db.session.execute(select(RouteEvent).order_by(RouteEvent.id)).scalars():
        events.setdefault(event.route_id, []).append(event)
    for route in db.session.execute(select(Route)).scalars():
        trail = events.get(route.id, [])
        assert _replay(trail) == route.state
        done = sum(1 for a in route.activities if a.status != "planned")
        edits = (route.reflection != "") + (route.recommendations != "")
        # Version 1 at creation, one more per transition, recorded activity result and section edit.
        assert route.version == 1 + len(trail) + done + edits
        if route.state in {"reflected", "closed"} and trail[-1].event != "archive":
            assert done == ACTIVITIES and route.reflection
        if route.state == "drafted":
            assert done == 0 and (route.review_requested_at is not None) == bool(trail)
    pending = db.session.execute(select(Correction.route_id)).scalars().all()
    assert pending and all(events[r][-1].event == "correction_requested" for r in pending)


def test_the_generated_database_has_every_index_of_the_models(bench):
    """The generator drops SQLite's indexes for the load and builds them again after it."""
    inspector = inspect(db.engine)
    for name, table in db.metadata.tables.items():
        present = {index["name"] for index in inspector.get_indexes(name)}
        assert {index.name for index in table.indexes} <= present, name


def _numbers(figures):
    assert figures
    for figure in figures:
        assert isinstance(figure.value, (int, float)) and math.isfinite(figure.value)
        assert isinstance(figure.baseline, (int, float)) and math.isfinite(figure.baseline)
        assert figure.value >= 0 and figure.baseline > 0 and figure.ratio >= 0
        assert figure.errors == 0, figure.note
    return figures


def test_each_measurement_runs_and_returns_numbers(bench):
    transitions = _numbers(measures.measure_transitions(bench, requests=12, warmup=2, users=2, routes=3))
    assert [f.name for f in transitions] == [name for _, name, _, _ in measures.TRANSITION_ANSWERS]
    # The default answer is held to the goal, the whole route reported beside it.
    assert [f.goal for f in transitions] == ["≥ 0.6", "reported"]
    assert transitions[0].passed == (transitions[0].ratio >= 0.6) and transitions[1].passed
    assert len(_numbers(measures.measure_pages(bench, requests=6, warmup=1, users=2))) == 2
    _numbers(measures.measure_monitoring(bench, repeat=1))
    _numbers(measures.measure_route_docx(bench, repeat=1))
    assert len(_numbers(measures.measure_bulk_export(bench, documents_count=4))) == 3
    counts = _numbers(measures.measure_query_counts(bench))
    assert all(f.value == f.baseline for f in counts), [(f.name, f.value, f.baseline, f.note) for f in counts if f.value != f.baseline]
    memory = _numbers(measures.measure_worker_memory(bench, transitions=30, users=2, routes=4, probe_every=5))
    assert "MACHINE.models max 0" in memory[0].note
    assert MACHINE.models == []


def test_raw_monitoring_query_agrees_with_the_generator(bench):
    from datetime import date
    raw = measures.raw_figures(1, date.today())
    assert raw["c2"] == bench.generated.c2 and raw["b2"] == bench.generated.b2
    expected_b2 = sum(1 for r in db.session.execute(select(Route)).scalars()
                      if r.diagnostic_id is not None and r.state != "drafted")
    assert raw["b2"] == expected_b2 and 0 < raw["b2"] < raw["c2"]
    assert set(raw["schools"]) == set(bench.generated.school_ids)


def test_each_database_keeps_its_own_results_file():
    from bench import run
    assert run.results_path("sqlite:////tmp/region.sqlite3") == run.RESULTS
    assert run.RESULTS.name == "results.md"
    postgres = run.results_path("postgresql+psycopg://postgres@127.0.0.1:5432/iom_bench_region_1")
    assert postgres.name == "results-postgresql.md" and postgres.parent == run.RESULTS.parent


def test_interleaved_loads_take_turns_in_rotating_order_and_keep_each_round():
    """Every round runs each load once; the first place turns by one each round, so no load always
    runs right after the same other one; more rounds than requests run as many rounds as requests."""
    from bench import load

    calls = []

    class Recording:
        def __init__(self, name):
            self.name = name

        async def setup(self, client):
            pass

        async def step(self, client):
            calls.append(self.name)
            return 200

    phases = {name: ("http://127.0.0.1:9", [Recording(name)]) for name in "abc"}
    stats = load.run_interleaved(phases, requests=6, rounds=3)
    assert "".join(calls) == "aabbcc" + "bbccaa" + "ccaabb"
    assert all(s.requests == 6 and [r for r, _ in s.rounds] == [2, 2, 2] and s.statuses == {200: 6}
               for s in stats.values())
    calls.clear()
    stats = load.run_interleaved(phases, requests=2, rounds=12)
    assert "".join(calls) == "abc" + "bca" and all(len(s.rounds) == 2 for s in stats.values())


def test_interleaved_loads_count_each_servers_cpu_around_its_own_rounds_only():
    """A load's server CPU is read before and after each of its rounds: what the server used while the
    other loads ran (both servers are up at once) is not counted to it."""
    from bench import load

    clock = {"a": 0.0, "b": 0.0}

    class Burning:
        def __init__(self, name, per_request):
            self.name, self.per_request = name, per_request

        async def setup(self, client):
            pass

        async def step(self, client):
            clock[self.name] += self.per_request
            clock["a" if self.name == "b" else "b"] += 100  # the other server idling: never counted
            return 200

    phases = {"a": ("http://127.0.0.1:9", [Burning("a", 0.002)]), "b": ("http://127.0.0.1:9", [Burning("b", 0.005)])}
    stats = load.run_interleaved(phases, requests=6, rounds=3, cpu={name: (lambda n=name: clock[n]) for name in "ab"})
    assert stats["a"].server_cpu_ms == pytest.approx(2.0) and stats["b"].server_cpu_ms == pytest.approx(5.0)
    assert load.run_interleaved(phases, requests=2).get("a").server_cpu == 0.0  # no reader: nothing counted


def test_a_servers_cpu_seconds_include_its_workers():
    """Server.cpu_seconds counts the master and its children (gunicorn's workers), from /proc."""
    import subprocess
    import sys

    from bench.server import process_tree_cpu_seconds

    parent = subprocess.Popen([sys.executable, "-c", (
        "import subprocess, sys\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time\\nend = time.process_time() + 0.6\\n"
        "while time.process_time() < end: pass\\nprint(1, flush=True)\\ntime.sleep(30)'], stdout=sys.stdout)\n"
        "child.wait()")], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout.readline().strip() == "1"  # the worker has burnt its CPU and still lives
        assert process_tree_cpu_seconds(parent.pid) >= 0.5
    finally:
        subprocess.run(["pkill", "-P", str(parent.pid)])
        parent.kill()
        parent.wait()


def test_the_server_cpu_note_says_per_request_and_what_it_leaves_out():
    from bench import load

    app = load.LoadStats(requests=100, seconds=1.0, server_cpu=0.2)
    base = load.LoadStats(requests=200, seconds=1.0, server_cpu=0.2)
    note = measures._server_cpu(app, base, "sqlite:////tmp/region.sqlite3")
    assert note == "; server CPU per request 2.00 ms vs 1.00 ms (ratio 0.50; the gunicorn workers only)"
    assert measures._server_cpu(app, base, "postgresql+psycopg://postgres@127.0.0.1/x").endswith(
        "the gunicorn workers only, not the database server's)")
    assert measures._server_cpu(load.LoadStats(requests=100, seconds=1.0), base, "sqlite://") == ""


def test_the_bare_transition_load_sends_the_apps_requests_and_reads_the_answer_alike():
    """Measurement 1's load client shares the machine with the servers, so it does the same work for
    both: the bare endpoint gets the default answer's headers and JSON body, and its answer is parsed."""
    import asyncio
    import json

    import httpx

    from bench import load

    seen = []

    def answer(request):
        seen.append(request)
        route_id = int(request.url.path.split("/")[-2])
        if request.url.path.startswith("/bare/"):
            return httpx.Response(200, json={"id": route_id, "state": "in_progress"})
        return httpx.Response(200, json={"id": route_id, "state": "in_progress", "version": 8})

    async def one_step(user):
        async with httpx.AsyncClient(base_url="http://bench", transport=httpx.MockTransport(answer)) as client:
            return await user.step(client)

    routes = [(7, "teacher-token", "curator-token")]
    app_user = load.TransitionUser(routes, versions={7: 5})
    bare_user = load.BareTransitionUser(routes, versions={7: 5})
    assert asyncio.run(one_step(app_user)) == 200 and asyncio.run(one_step(bare_user)) == 200
    app_request, bare_request = seen
    assert app_request.url.path == "/api/v1/routes/7/transitions"
    assert bare_request.url.path == "/bare/routes/7/transition"
    for name in ("Authorization", "Content-Type", "Content-Length"):
        assert bare_request.headers[name] == app_request.headers[name]
    assert "Prefer" not in app_request.headers and "Prefer" not in bare_request.headers
    assert json.loads(bare_request.content) == json.loads(app_request.content) == {
        "trigger": "return_reflection", "comment": "Дополните выводы о результатах открытого урока", "version": 5}
    # Each answer is read: the route is now in progress (the teacher's turn next), the API's version kept.
    assert app_user.returned == bare_user.returned == {7}
    assert app_user.versions == {7: 8} and bare_user.versions == {7: 5}
    # The load that asks for the whole route says so.
    assert asyncio.run(one_step(load.TransitionUser(routes, versions={7: 5}, whole=True))) == 200
    assert seen[-1].headers["Prefer"] == "return=representation"


def test_the_load_client_looks_up_its_async_library_without_searching_for_modules():
    """httpcore asks which async library runs on every request by importing sniffio; anyio no longer
    installs it, and a failed import is not remembered, so every request searched sys.path again (about
    0.4 ms of the load client's CPU, which shares the machine with the servers it measures)."""
    import asyncio
    import sys

    from httpcore import _synchronization

    searched = []

    class Recorder:
        @staticmethod
        def find_spec(name, path=None, target=None):
            searched.append(name)
            return None

    async def ask():
        return [_synchronization.current_async_library() for _ in range(20)]

    sys.meta_path.insert(0, Recorder)
    try:
        libraries = asyncio.run(ask())
    finally:
        sys.meta_path.remove(Recorder)
    assert libraries == ["asyncio"] * 20
    assert searched == []
