"""A bounded loopback load: a fixed number of virtual users (asyncio + httpx) share a fixed number of requests."""
import asyncio
import re
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


@dataclass
class LoadStats:
    requests: int
    seconds: float
    latencies: list = field(repr=False, default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    # Of an interleaved load: (requests, seconds) of each round.
    rounds: list = field(repr=False, default_factory=list)
    # CPU seconds the serving processes used while this load ran (when the load was given a way to read them).
    server_cpu: float = 0.0

    @property
    def server_cpu_ms(self):
        """The server's CPU time per request, in milliseconds."""
        return self.server_cpu / self.requests * 1000 if self.requests else 0.0

    @property
    def rps(self):
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def p50_ms(self):
        return statistics.median(self.latencies) * 1000 if self.latencies else 0.0

    @property
    def p95_ms(self):
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000

    @property
    def failures(self):
        return sum(count for status, count in self.statuses.items() if not 200 <= status < 300)


def run_load(base_url, users, requests, warmup=0):
    """Set up every virtual user, run `warmup` requests, then time `requests` requests; return LoadStats."""
    return asyncio.run(_drive(base_url, users, requests, warmup))


async def _drive(base_url, users, requests, warmup):
    clients = [httpx.AsyncClient(base_url=base_url, timeout=120, follow_redirects=False) for _ in users]
    try:
        for user, client in zip(users, clients):
            await user.setup(client)
        if warmup:
            await _phase(users, clients, warmup)
        return await _phase(users, clients, requests)
    finally:
        for client in clients:
            await client.aclose()


def run_interleaved(phases, requests, warmup=0, rounds=12, cpu=None):
    """Run several loads in alternating rounds, so a drift of the machine's background load touches
    them alike. phases: {name: (base_url, users)}; each gets `requests` requests in all, in `rounds`
    short rounds; the order of the loads turns by one place every round, so none always follows the
    same other. cpu: {name: a function giving the CPU seconds its server has used so far}, read around
    each of that load's rounds (Server.cpu_seconds). Return {name: LoadStats} (with each round's
    requests and seconds, and the server's CPU seconds)."""
    return asyncio.run(_interleave(phases, requests, warmup, rounds, cpu or {}))


async def _interleave(phases, requests, warmup, rounds, cpu):
    clients = {name: [httpx.AsyncClient(base_url=url, timeout=120, follow_redirects=False) for _ in users]
               for name, (url, users) in phases.items()}
    try:
        for name, (_, users) in phases.items():
            for user, client in zip(users, clients[name]):
                await user.setup(client)
            if warmup:
                await _phase(users, clients[name], warmup)
        totals = {name: LoadStats(requests=0, seconds=0.0) for name in phases}
        names = list(phases)
        rounds = max(1, min(rounds, requests))
        for index in range(rounds):
            share = requests // rounds + (1 if index < requests % rounds else 0)
            turn = index % len(names)
            for name in names[turn:] + names[:turn]:
                server_cpu = cpu.get(name)
                before = server_cpu() if server_cpu else 0.0
                stats = await _phase(phases[name][1], clients[name], share)
                total = totals[name]
                if server_cpu:
                    total.server_cpu += server_cpu() - before
                total.requests += stats.requests
                total.seconds += stats.seconds
                total.latencies += stats.latencies
                total.statuses.update(stats.statuses)
                total.rounds.append((stats.requests, stats.seconds))
        return totals
    finally:
        for group in clients.values():
            for client in group:
                await client.aclose()


async def _phase(users, clients, requests):
    remaining = requests
    stats = LoadStats(requests=requests, seconds=0.0)

    async def virtual_user(user, client):
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            status = await user.step(client)
            stats.latencies.append(time.perf_counter() - started)
            stats.statuses[status] += 1

    started = time.perf_counter()
    await asyncio.gather(*(virtual_user(u, c) for u, c in zip(users, clients)))
    stats.seconds = time.perf_counter() - started
    return stats


def csrf_token(html):
    """Return the form's CSRF token ("" when the app runs with CSRF off, as in tests)."""
    match = CSRF_RE.search(html)
    return (match.group(1) or match.group(2)) if match else ""


class WebLogin:
    """Sign in through the app's login form (CSRF token included) once per virtual user."""

    def __init__(self, login, password):
        self.login, self.password = login, password

    async def setup(self, client):
        page = await client.get("/login")
        response = await client.post("/login", data={"login": self.login, "password": self.password,
                                                     "csrf_token": csrf_token(page.text)})
        if response.status_code != 302:
            raise RuntimeError(f"login of {self.login} failed: {response.status_code}")


class PageUser(WebLogin):
    """A signed-in user who opens the given paths in turn."""

    def __init__(self, login, password, paths):
        super().__init__(login, password)
        self.paths, self.index = list(paths), 0

    async def step(self, client):
        path = self.paths[self.index % len(self.paths)]
        self.index += 1
        return (await client.get(path)).status_code


class BarePageUser(PageUser):
    async def setup(self, client):
        response = await client.post("/bare/login", data={"login": self.login, "password": self.password})
        if response.status_code != 200:
            raise RuntimeError(f"bare login of {self.login} failed: {response.status_code}")


class TransitionUser:
    """Cycles reflected routes through return_reflection (curator) and submit_reflection (teacher) by API."""

    path = "/api/v1/routes/{}/transitions"

    def __init__(self, routes, versions=None, returned=(), whole=False):
        # routes: [(route_id, teacher_token, curator_token)]; versions: {route_id: current version};
        # whole: ask for the whole route (Prefer: return=representation), not the new state only.
        self.routes, self.index = list(routes), 0
        self.prefer = {"Prefer": "return=representation"} if whole else {}
        self.versions = dict(versions or {})
        # Routes now in progress (returned by the curator), whose next step is the teacher's.
        self.returned = set(returned)

    async def setup(self, client):
        pass

    async def step(self, client):
        route_id, teacher_token, curator_token = self.routes[self.index % len(self.routes)]
        self.index += 1
        if route_id in self.returned:
            token, body = teacher_token, {"trigger": "submit_reflection"}
        else:
            token, body = curator_token, {"trigger": "return_reflection",
                                          "comment": "Дополните выводы о результатах открытого урока"}
        body["version"] = self.versions[route_id]
        response = await client.post(self.path.format(route_id), json=body,
                                     headers={"Authorization": f"Bearer {token}", **self.prefer})
        if response.status_code == 200:
            self.answered(route_id, response.json())
        return response.status_code

    def answered(self, route_id, answer):
        self.returned ^= {route_id}
        self.versions[route_id] = answer["version"]


class BareTransitionUser(TransitionUser):
    """The same requests as TransitionUser's (headers, JSON body) to the bare endpoint, whose JSON answer
    is read alike: the load client, which shares the machine, then costs the same for both servers.
    The bare endpoint reads neither the token nor the body."""

    path = "/bare/routes/{}/transition"

    def answered(self, route_id, answer):
        self.returned ^= {route_id}  # the bare endpoint keeps no versions
