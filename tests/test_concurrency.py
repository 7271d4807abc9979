"""Concurrent writers: one winner per version, no lost writes, never a 500 or "database is locked".

The in-process tests use threads with their own test clients (each request has its own app
context, so its own session and database connection). The multi-process tests serve the app
with gunicorn: two servers on two loopback ports sharing the test database (the session's
PostgreSQL database when the suite runs on PostgreSQL, otherwise one SQLite file).
"""
import threading
from collections import Counter

import httpx
import pytest
from sqlalchemy import func, select

from _servers import gunicorn
from conftest import PASSWORD, activity_data
from models import Activity, Route, RouteEvent, db

API = "/api/v1"
CONFLICT_CODES = {"stale_version", "transition_not_allowed", "conflict"}


def _token(client, login):
    """Issue an API token through a Flask test client, or through HTTP when given a base URL."""
    if isinstance(client, str):
        response = httpx.post(f"{client}{API}/tokens", json={"login": login, "password": PASSWORD}, timeout=60)
        body = response.json()
    else:
        response = client.post(f"{API}/tokens", json={"login": login, "password": PASSWORD})
        body = response.get_json()
    assert response.status_code == 201, body
    return body["token"]


def _bearer(token):
    return {"Authorization": f"Bearer {token}"}


def _fresh_route(route_id):
    db.session.expire_all()
    route = db.session.get(Route, route_id)
    events = db.session.execute(select(RouteEvent.event).where(RouteEvent.route_id == route_id)
                                .order_by(RouteEvent.id)).scalars().all()
    return route, events


def _run_at_once(jobs):
    """Run the callables in threads released together; return their results in order."""
    barrier = threading.Barrier(len(jobs))
    results = [None] * len(jobs)

    def run(index, job):
        barrier.wait(timeout=60)
        try:
            results[index] = job()
        except Exception as exc:  # surfaced by the assertions below, with its type
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _assert_one_winner(responses, expected_state):
    """Exactly one 200; the rest 409 JSON with a clear Russian message."""
    statuses = Counter(status for status, _ in responses)
    assert statuses == Counter({200: 1, 409: len(responses) - 1}), responses
    winner = next(body for status, body in responses if status == 200)
    assert winner["state"] == expected_state
    for status, body in responses:
        if status == 409:
            assert body["error"] in CONFLICT_CODES
            assert body["message"] and any("а" <= ch <= "я" for ch in body["message"].lower())


@pytest.mark.parametrize("threads", [8])
def test_concurrent_api_approvals_of_one_route_exactly_one_wins(app, district, threads):
    route = district.route(state="under_review")
    route_id, version = route.id, route.version
    token = _token(app.test_client(), "curator")
    db.session.close()  # release this thread's transaction before the writers start

    def approve():
        response = app.test_client().post(f"{API}/routes/{route_id}/transitions", headers=_bearer(token),
                                          json={"trigger": "approve", "comment": "", "version": version})
        return response.status_code, response.get_json()

    _assert_one_winner(_run_at_once([approve] * threads), "curator_approved")
    route, events = _fresh_route(route_id)
    assert (route.state, route.version) == ("curator_approved", version + 1)
    assert events.count("approve") == 1
    db.session.close()


def test_concurrent_edits_from_one_version_keep_the_winners_text(app, district):
    route = district.route()
    route_id, version = route.id, route.version
    token = _token(app.test_client(), "teacher")
    db.session.close()

    def edit(text):
        def job():
            response = app.test_client().patch(f"{API}/routes/{route_id}", headers=_bearer(token),
                                               json={"request": text, "version": version})
            return response.status_code, response.get_json()
        return job

    texts = [f"Запрос педагога, вариант {i}" for i in range(6)]
    responses = _run_at_once([edit(text) for text in texts])
    statuses = Counter(status for status, _ in responses)
    assert statuses == Counter({200: 1, 409: 5}), responses
    winner = texts[[status for status, _ in responses].index(200)]
    route, _ = _fresh_route(route_id)
    assert route.request == winner and route.version == version + 1
    db.session.close()


# --- several app processes on one database -------------------------------------------------------------

def _serve(app, tmp_path):
    """Two gunicorn servers (two workers each) on loopback ports, sharing the test database."""
    db.session.close()  # the servers must not wait on this test's transaction
    return gunicorn(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path, count=2, workers=2)


def test_two_processes_on_one_database_give_exactly_one_winner(app, district, tmp_path):
    route = district.route(state="under_review")
    route_id, version = route.id, route.version
    with _serve(app, tmp_path) as servers:
        responses = _approve_through(servers, route_id, version)
    _assert_one_winner(responses, "curator_approved")
    route, events = _fresh_route(route_id)
    assert (route.state, route.version) == ("curator_approved", version + 1)
    assert events.count("approve") == 1
    db.session.close()


def _approve_through(servers, route_id, version):
    first, second = servers
    token = _token(first, "curator")

    def approve(base_url):
        def job():
            with httpx.Client(base_url=base_url, timeout=120) as client:
                response = client.post(f"{API}/routes/{route_id}/transitions", headers=_bearer(token),
                                       json={"trigger": "approve", "comment": "", "version": version})
                return response.status_code, response.json()
        return job

    return _run_at_once([approve(first), approve(second)] * 4)


def test_concurrent_writers_through_two_processes_never_fail_or_lose_a_write(app, district, tmp_path):
    """Many writers at once (on SQLite: WAL, busy timeout, BEGIN IMMEDIATE): no 5xx, every write lands."""
    route_ids = [district.route().id for _ in range(4)]
    before = {rid: len(db.session.get(Route, rid).activities) for rid in route_ids}
    with _serve(app, tmp_path) as servers:
        seen, results = _add_activities_through(servers, route_ids)
    assert results == [PER_WRITER] * WRITERS, results
    assert not any(isinstance(status, int) and status >= 500 for status in seen), seen
    # Writers queue for the lock instead of failing: the only refusals are stale versions,
    # never "the route is being changed by someone else" (a lock that timed out).
    assert seen["stale_version"] == seen[409] and "conflict" not in seen, seen
    after = {rid: db.session.execute(select(func.count(Activity.id)).where(Activity.route_id == rid))
             .scalar_one() for rid in route_ids}
    expected_per_route = PER_WRITER * WRITERS // len(route_ids)
    assert after == {rid: before[rid] + expected_per_route for rid in route_ids}
    db.session.close()


PER_WRITER, WRITERS = 3, 12


def _add_activities_through(servers, route_ids):
    """WRITERS clients, spread over the servers and routes, each add PER_WRITER activities (retrying 409)."""
    token = _token(servers[0], "teacher")
    seen = Counter()
    lock = threading.Lock()

    def writer(index):
        def job():
            route_id, base_url = route_ids[index % len(route_ids)], servers[index % len(servers)]
            added = 0
            with httpx.Client(base_url=base_url, timeout=120, headers=_bearer(token)) as client:
                for _ in range(200):
                    if added == PER_WRITER:
                        break
                    current = client.get(f"{API}/routes/{route_id}")
                    with lock:
                        seen[current.status_code] += 1
                    assert current.status_code == 200, current.text
                    response = client.post(f"{API}/routes/{route_id}/activities",
                                           json={**activity_data(index), "version": current.json()["version"]})
                    with lock:
                        seen[response.status_code] += 1
                        if response.status_code == 409:
                            seen[response.json()["error"]] += 1
                    assert "locked" not in response.text.lower(), response.text
                    assert response.status_code in {201, 409}, response.text
                    if response.status_code == 201:
                        added += 1
            return added
        return job

    return seen, _run_at_once([writer(i) for i in range(WRITERS)])
