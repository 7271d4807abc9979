"""Load test on loopback: gunicorn + PostgreSQL (or SQLite), reads, edits and transitions at once.

    python -m loadtest.run [--users 50] [--duration 60] [--workers 4] [--database-url URL]

It creates a scratch database (a new PostgreSQL database on the server DATABASE_URL names, or a
SQLite file), loads the demo district plus one drafted route per load-test teacher, serves the app
with gunicorn on a free 127.0.0.1 port and runs the virtual users for a bounded time:

- teachers read their route and the route list, edit the request text, add or delete activities
  (with the route's version; a 409 is answered by reloading and trying again) and send the route
  for review; their curators return routes under review to the draft (with a comment);
- two virtual users share each route, so version conflicts really happen.

Afterwards it checks every write against the database: each route's version went up exactly once
per successful write, its activities and audit rows match the successful adds, deletes and
transitions, its text is the last successful edit, and replaying its audit trail gives its state.
It reports the status codes, 5xx (must be 0), lost writes (must be 0) and latency percentiles, and
exits non-zero when either count is not 0. Only loopback is ever contacted.
"""
import argparse
import asyncio
import math
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import httpx

BASE_DIR = Path(__file__).resolve().parent.parent
if str(BASE_DIR) not in sys.path:
    sys.path.insert(0, str(BASE_DIR))

API = "/api/v1"
PASSWORD = "load-test-2023"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
MAX_ACTIVITIES = 6


# --- the scratch database and its data ---------------------------------------------------------------

def create_database(kind, admin_url, workdir):
    """Return the URL of a new scratch database and a function that drops it."""
    if kind == "sqlite":
        path = Path(workdir) / "loadtest.sqlite3"
        return f"sqlite:///{path}", lambda: None
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    base = make_url(admin_url)
    name = f"iom_load_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop():
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return base.set(database=name).render_as_string(hide_password=False), drop


def seed(url, teachers, curators):
    """Migrate the scratch database, load the demo district and the load-test teachers' drafts."""
    from datetime import date, timedelta

    from app import create_app
    from models import db
    from workflow import accounts, demo, service
    from workflow.schema import upgrade_schema

    # A cheap hash keeps seeding and token issuing fast; the server checks whatever is stored.
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "loadtest", "TESTING": True,
                      "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})
    with app.app_context():
        upgrade_schema()
        municipality = demo.load()
        school = accounts.create_school("Школа нагрузочного теста", municipality)
        curator_logins = [f"lt_curator{i + 1}" for i in range(curators)]
        for login in curator_logins:
            accounts.create_user(login, role="curator", full_name=f"Куратор {login}", password=PASSWORD,
                                 municipality=municipality)
        routes = []
        today = date.today()
        for index in range(teachers):
            login = f"lt_teacher{index + 1:02d}"
            teacher = accounts.create_user(login, role="teacher", full_name=f"Педагог {login}",
                                           password=PASSWORD, school=school, municipality=municipality,
                                           position="Учитель")
            curator = curator_logins[index % curators]
            accounts.assign_curator(teacher, curator)
            route = service.create_route(teacher, data={
                "period_start": today, "period_end": today + timedelta(days=300),
                "request": "Затруднения в формировании функциональной грамотности",
                "activities": [_activity(index, n) for n in range(2)],
            })
            routes.append({"id": route.id, "teacher": login, "curator": curator})
        db.session.remove()
        db.engine.dispose()
    return routes


def _activity(vu, n):
    stage = ["diagnostic_motivational", "design", "implementation", "analytical"][n % 4]
    return {"stage": stage, "direction": "methodical", "deficit": f"Дефицит {vu}-{n}",
            "tasks": f"Задача {vu}-{n}", "forms": "Семинар", "deadline": "2030-05-20",
            "result_form": "Методическая разработка"}


def route_facts(url, route_ids):
    """Read what the database holds for each route after the run."""
    from sqlalchemy import create_engine, func, select

    from models import Activity, Route, RouteEvent
    from workflow.audit import AuditMismatch, replay_state
    engine = create_engine(url)
    facts = {}
    with engine.connect() as conn:
        for route_id in route_ids:
            route = conn.execute(select(Route.state, Route.version, Route.request)
                                 .where(Route.id == route_id)).one()
            events = conn.execute(select(RouteEvent.event, RouteEvent.from_state, RouteEvent.to_state)
                                  .where(RouteEvent.route_id == route_id).order_by(RouteEvent.id)).all()
            try:
                replayed = replay_state([dict(e._mapping) for e in events])
            except AuditMismatch as exc:
                replayed = f"mismatch: {exc}"
            facts[route_id] = {
                "state": route.state, "version": route.version, "request": route.request,
                "events": len(events), "replayed": replayed,
                "activities": conn.execute(select(func.count(Activity.id))
                                           .where(Activity.route_id == route_id)).scalar_one(),
            }
    engine.dispose()
    return facts


# --- the server -------------------------------------------------------------------------------------

def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(url, workers, workdir):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"IOM_DEMO", "FLASK_DEBUG"}}
    env.update({"DATABASE_URL": url, "SECRET_KEY": uuid.uuid4().hex, "IOM_INSTANCE_DIR": str(workdir),
                "DB_POOL_SIZE": env.get("DB_POOL_SIZE", "5"), "DB_MAX_OVERFLOW": env.get("DB_MAX_OVERFLOW", "10")})
    log = open(Path(workdir) / "gunicorn.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--bind", f"127.0.0.1:{port}",
         "--timeout", "120", "wsgi:app"],
        cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited: {(Path(workdir) / 'gunicorn.log').read_text()[-2000:]}")
        try:
            if httpx.get(f"{base}/login", timeout=5).status_code == 200:
                return base, process, log
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("gunicorn did not answer")


def stop_gunicorn(process, log):
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    log.close()


# --- virtual users ------------------------------------------------------------------------------------

class Stats:
    def __init__(self):
        self.latency = defaultdict(list)
        self.statuses = Counter()
        self.errors = Counter()
        self.transport_errors = 0
        # Per route: successful writes, and (version after, text) of each successful edit.
        self.writes = Counter()
        self.adds = Counter()
        self.deletes = Counter()
        self.transitions = Counter()
        self.edits = defaultdict(list)
        self.samples_5xx = []

    async def call(self, client, kind, method, path, **kwargs):
        started = time.perf_counter()
        try:
            response = await client.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            self.transport_errors += 1
            self.errors[f"transport:{type(exc).__name__}"] += 1
            return None
        self.latency[kind].append(time.perf_counter() - started)
        self.statuses[response.status_code] += 1
        if response.status_code >= 400 and response.headers.get("content-type", "").startswith("application/json"):
            self.errors[f"{response.status_code}:{response.json().get('error')}"] += 1
        if response.status_code >= 500 and len(self.samples_5xx) < 5:
            self.samples_5xx.append(f"{method} {path} -> {response.status_code}: {response.text[:200]}")
        return response


async def issue_token(client, stats, login):
    response = await stats.call(client, "token", "POST", f"{API}/tokens", json={"login": login, "password": PASSWORD})
    if response is None or response.status_code != 201:
        raise SystemExit(f"cannot get a token for {login}: {response and response.text}")
    return {"Authorization": f"Bearer {response.json()['token']}"}


async def teacher_user(number, base, route, stats, deadline, rng):
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        client.headers.update(await issue_token(client, stats, route["teacher"]))
        route_id, counter = route["id"], 0
        while time.monotonic() < deadline:
            current = await stats.call(client, "read route", "GET", f"{API}/routes/{route_id}")
            if current is None or current.status_code != 200:
                continue
            body = current.json()
            version, roll = body["version"], rng.random()
            if roll < 0.35:
                await stats.call(client, "list routes", "GET", f"{API}/routes", params={"page": 1})
            elif roll < 0.6:
                counter += 1
                text = f"Запрос педагога {route['teacher']}: правка {number}-{counter}"
                response = await stats.call(client, "edit", "PATCH", f"{API}/routes/{route_id}",
                                            json={"request": text, "version": version})
                if response is not None and response.status_code == 200:
                    stats.writes[route_id] += 1
                    stats.edits[route_id].append((response.json()["version"], text))
            elif roll < 0.85:
                if len(body["activities"]) >= MAX_ACTIVITIES:
                    victim = rng.choice(body["activities"])["id"]
                    response = await stats.call(client, "delete activity", "DELETE",
                                                f"{API}/routes/{route_id}/activities/{victim}",
                                                params={"version": version})
                    if response is not None and response.status_code == 200:
                        stats.writes[route_id] += 1
                        stats.deletes[route_id] += 1
                else:
                    response = await stats.call(client, "add activity", "POST", f"{API}/routes/{route_id}/activities",
                                                json={**_activity(number, counter), "version": version})
                    if response is not None and response.status_code == 201:
                        stats.writes[route_id] += 1
                        stats.adds[route_id] += 1
            else:
                response = await stats.call(client, "transition", "POST", f"{API}/routes/{route_id}/transitions",
                                            json={"trigger": "request_review", "comment": "", "version": version})
                if response is not None and response.status_code == 200:
                    stats.writes[route_id] += 1
                    stats.transitions[route_id] += 1


async def curator_user(base, login, routes, stats, deadline, rng):
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        client.headers.update(await issue_token(client, stats, login))
        while time.monotonic() < deadline:
            route = rng.choice(routes)
            current = await stats.call(client, "read route", "GET", f"{API}/routes/{route['id']}")
            if current is None or current.status_code != 200:
                continue
            body = current.json()
            allowed = {t["trigger"] for t in body["allowed_transitions"] if t["allowed"]}
            if "return_to_draft" in allowed:
                response = await stats.call(client, "transition", "POST", f"{API}/routes/{route['id']}/transitions",
                                            json={"trigger": "return_to_draft", "version": body["version"],
                                                  "comment": "Уточните сроки мероприятий"})
                if response is not None and response.status_code == 200:
                    stats.writes[route["id"]] += 1
                    stats.transitions[route["id"]] += 1
            else:
                await stats.call(client, "list routes", "GET", f"{API}/routes", params={"state": "drafted"})


async def run_users(base, routes, users, duration, seed_value):
    stats = Stats()
    rng = random.Random(seed_value)
    by_curator = defaultdict(list)
    for route in routes:
        by_curator[route["curator"]].append(route)
    curator_count = max(1, users // 5)
    teacher_count = users - curator_count
    deadline = time.monotonic() + duration
    tasks = [teacher_user(i, base, routes[i % len(routes)], stats, deadline, random.Random(rng.random()))
             for i in range(teacher_count)]
    curators = sorted(by_curator)
    tasks += [curator_user(base, curators[i % len(curators)], by_curator[curators[i % len(curators)]], stats,
                           deadline, random.Random(rng.random())) for i in range(curator_count)]
    started = time.monotonic()
    await asyncio.gather(*tasks)
    return stats, time.monotonic() - started


# --- checks and report ---------------------------------------------------------------------------------

def lost_writes(routes, before, after, stats):
    """Return a list of discrepancies between the successful writes and the database."""
    problems = []
    for route in routes:
        rid, b, a = route["id"], before[route["id"]], after[route["id"]]
        if a["version"] != b["version"] + stats.writes[rid]:
            problems.append(f"route {rid}: version {a['version']}, expected {b['version']} + {stats.writes[rid]}")
        if a["activities"] != b["activities"] + stats.adds[rid] - stats.deletes[rid]:
            problems.append(f"route {rid}: {a['activities']} activities, expected {b['activities']} "
                            f"+ {stats.adds[rid]} - {stats.deletes[rid]}")
        if a["events"] != b["events"] + stats.transitions[rid]:
            problems.append(f"route {rid}: {a['events']} audit rows, expected {b['events']} + {stats.transitions[rid]}")
        if stats.edits[rid]:
            last = max(stats.edits[rid])[1]
            if a["request"] != last:
                problems.append(f"route {rid}: text {a['request']!r}, last successful edit {last!r}")
        if a["replayed"] != a["state"]:
            problems.append(f"route {rid}: state {a['state']}, audit replay gives {a['replayed']}")
    return problems


def percentile(values, p):
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = math.ceil(p / 100 * len(ordered))  # nearest-rank percentile
    return ordered[min(len(ordered), max(1, rank)) - 1]


def report(args, kind, stats, elapsed, problems):
    total = sum(stats.statuses.values())
    everything = [v for values in stats.latency.values() for v in values]
    lines = [
        f"Load test: {args.users} virtual users for {args.duration:.0f} s against gunicorn "
        f"({args.workers} workers) + {kind} on 127.0.0.1",
        f"requests: {total} in {elapsed:.1f} s ({total / elapsed:.0f}/s); "
        f"statuses: {dict(sorted(stats.statuses.items()))}; transport errors: {stats.transport_errors}",
        f"refusals: {dict(sorted(stats.errors.items()))}",
        f"{'kind':<16}{'count':>8}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'max ms':>10}",
    ]
    for name in sorted(stats.latency):
        values = stats.latency[name]
        lines.append(f"{name:<16}{len(values):>8}{percentile(values, 50) * 1000:>10.1f}"
                     f"{percentile(values, 95) * 1000:>10.1f}{percentile(values, 99) * 1000:>10.1f}"
                     f"{max(values) * 1000:>10.1f}")
    lines.append(f"{'all':<16}{len(everything):>8}{percentile(everything, 50) * 1000:>10.1f}"
                 f"{percentile(everything, 95) * 1000:>10.1f}{percentile(everything, 99) * 1000:>10.1f}"
                 f"{max(everything, default=0) * 1000:>10.1f}")
    writes = sum(stats.writes.values())
    lines.append(f"successful writes: {writes} (edits {sum(len(v) for v in stats.edits.values())}, "
                 f"activities added {sum(stats.adds.values())}, deleted {sum(stats.deletes.values())}, "
                 f"transitions {sum(stats.transitions.values())})")
    server_errors = sum(n for status, n in stats.statuses.items() if status >= 500)
    lines.append(f"5xx: {server_errors}; lost writes: {len(problems)}")
    lines.extend(f"  5xx sample: {line}" for line in stats.samples_5xx)
    lines.extend(f"  lost write: {line}" for line in problems[:20])
    print("\n".join(lines))
    return server_errors, stats.transport_errors


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50, help="virtual users (default 50)")
    parser.add_argument("--duration", type=float, default=60, help="seconds of load (default 60, at most 600)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (default 4)")
    parser.add_argument("--routes", type=int, default=25, help="load-test teachers, one draft each (default 25)")
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--database-url", default=os.environ.get("LOADTEST_DATABASE_URL", DEFAULT_PG),
                        help="a PostgreSQL database on the server to use; a scratch database is created beside it")
    parser.add_argument("--seed", type=int, default=2023)
    args = parser.parse_args(argv)
    if not 1 <= args.users <= 500 or not 1 <= args.duration <= 600:
        parser.error("--users must be 1..500 and --duration 1..600 seconds")
    from sqlalchemy.engine import make_url
    if args.database == "postgresql" and make_url(args.database_url).host not in {"127.0.0.1", "localhost", "::1"}:
        parser.error("the load test only runs on loopback: --database-url must point at 127.0.0.1")

    with tempfile.TemporaryDirectory(prefix="iom-loadtest-") as workdir:
        url, drop = create_database(args.database, args.database_url, workdir)
        try:
            print(f"seeding {make_url(url).render_as_string(hide_password=True)} ...", flush=True)
            routes = seed(url, args.routes, curators=5)
            before = route_facts(url, [r["id"] for r in routes])
            base, process, log = start_gunicorn(url, args.workers, workdir)
            try:
                stats, elapsed = asyncio.run(run_users(base, routes, args.users, args.duration, args.seed))
            finally:
                stop_gunicorn(process, log)
            after = route_facts(url, [r["id"] for r in routes])
            problems = lost_writes(routes, before, after, stats)
            server_errors, transport_errors = report(args, args.database, stats, elapsed, problems)
        finally:
            drop()
    return 1 if server_errors or transport_errors or problems else 0


if __name__ == "__main__":
    sys.exit(main())
