"""Generate a region-scale data set in bulk: schools, users, routes in every state, audit rows.

This is a data loader, not the app changing state: rows go in with SQLAlchemy Core executemany in
large batches (COPY on PostgreSQL), ids are assigned here, and each route's audit trail
(`route_events`) and `version` are written to agree with the state the route is in, as if the
workflow had driven it there (see `workflow/states.py` and `workflow/service.py`).

    python -m bench.generate --schools 3 --teachers-per-school 10   # into bench/scratch/region.sqlite3
"""
import argparse
import io
import json
import operator
import random
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache

from sqlalchemy import text
from werkzeug.security import generate_password_hash

from models import db
from models._time import utcnow
from workflow import demo

BENCH_PASSWORD = "bench-password-2023"
REGION = dict(schools=1000, teachers_per_school=60, activities_per_route=10, municipalities=40)
BATCH = 20_000

# How far along routes are: one slot of this cycle per teacher, so every state is present in every
# school and the counts are exact for any number of routes.
PLAN_CYCLE = (["draft", "review"] + ["approved"] * 3 + ["progress"] * 7 + ["correction"]
              + ["reflected"] * 2 + ["closed"] * 4 + ["archived"])
PLAN_STATE = {
    "draft": "drafted", "review": "drafted", "approved": "curator_approved", "progress": "in_progress",
    "correction": "in_progress", "reflected": "reflected", "closed": "closed", "archived": "closed",
}
# Parent tables first, so foreign keys hold at every flush.
TABLE_ORDER = ["municipalities", "schools", "diagnostics", "users", "routes", "activities", "corrections",
               "route_events", "diagnostic_results"]
DIAGNOSTIC_TITLE = "Оценка предметных и методических компетенций учителей (ФИОКО)"
DIAGNOSTIC_DAY = date(2022, 9, 20)
# Competency areas of the diagnostic: the demo's deficit areas.
COMPETENCIES = [name for name, _ in demo.DEFICITS]
RESULTS_PER_TEACHER = 4

STAGES = ["diagnostic_motivational", "design", "implementation", "analytical"]
DIRECTIONS = ["professional", "psycho_pedagogical", "methodical", "informational"]
FORMS = [
    "Самодиагностика, консультация куратора",
    "Курсы повышения квалификации (ИРО Краснодарского края), 36 ч",
    "Участие в работе муниципального методического объединения",
    "Вебинар платформы ЦОС ДПО",
    "Открытый урок, взаимопосещение уроков",
    "Мастер-класс учителя-наставника",
    "Профессиональное сообщество «Я Учитель»",
    "Самообразование: изучение методической литературы",
    "Стажировка на базе школы — региональной инновационной площадки",
    "Творческий отчёт на заседании ШМО",
]
RESULT_FORMS = ["Аналитическая справка", "Удостоверение о повышении квалификации",
                "Методическая разработка урока", "Конспект урока, самоанализ", "Публикация на сайте ОО",
                "Выступление на педагогическом совете", "Портфолио, презентация", "Проект обучающихся",
                "Мастер-класс для коллег", "Отчёт о самообразовании"]
TASK_TEMPLATES = ["Проанализировать результаты диагностики профессиональных компетенций, определить дефициты",
                  "Изучить нормативные документы и методические рекомендации по теме",
                  "Провести открытый урок с применением освоенных приёмов",
                  "Разработать дидактические материалы и оценочные средства",
                  "Оценить эффективность ИОМ, представить опыт на заседании ШМО"]
REFLECTION = ("Маршрут позволил восполнить выявленные дефициты: освоены новые приёмы, разработаны материалы, "
              "проведён открытый урок. Планирую продолжить работу в профессиональном сообществе.")
RECOMMENDATIONS = ("Рекомендовано пройти курсы повышения квалификации по программе «Школа современного "
                   "учителя» и представить опыт на муниципальном семинаре.")


def plan_of(index):
    """Return the plan slot (how far along the route is) of the teacher with this 0-based index."""
    return PLAN_CYCLE[index % len(PLAN_CYCLE)]


def expected_state_counts(routes):
    """Return how many routes the generator puts in each state for this many routes."""
    return Counter(PLAN_STATE[plan_of(i)] for i in range(routes))


@lru_cache(maxsize=1)
def password_hash():
    """One real (scrypt) hash of BENCH_PASSWORD, reused for every generated user."""
    return generate_password_hash(BENCH_PASSWORD)


@dataclass
class Generated:
    """What was generated: counts, and the ids and logins the measurements need.

    Logins are predictable: admin, dept01.., head0001.., curator0001.. (one per school, curating its
    teachers), teacher00001..; every password is BENCH_PASSWORD.
    """

    counts: dict = field(default_factory=dict)
    states: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    # (route_id, teacher login, curator login) of reflected routes: they can cycle
    # return_reflection / submit_reflection forever.
    reflected: list = field(default_factory=list)
    school_ids: list = field(default_factory=list)
    # Teachers diagnosed (C2) and, of them, routes built from the diagnostic and approved (B2).
    c2: int = 0
    b2: int = 0


class _Loader:
    """Buffered bulk writer: rows per table, flushed in foreign-key order in large batches."""

    def __init__(self, conn):
        self.conn = conn
        self.tables = {name: db.metadata.tables[name] for name in TABLE_ORDER}
        self.buffers = {name: [] for name in TABLE_ORDER}
        self.counts = Counter()
        self.pending = 0
        self.defaults = {name: self._defaults(table) for name, table in self.tables.items()}
        self.sqlite_plans = {}

    @staticmethod
    def _defaults(table):
        values = {}
        for column in table.columns:
            default = column.default
            if default is not None and default.is_scalar:
                values[column.name] = default.arg
            elif column.nullable and default is None:
                values[column.name] = None
        return values

    def add(self, table, **values):
        row = {**self.defaults[table], **values}
        self.buffers[table].append(row)
        self.pending += 1
        if self.pending >= BATCH:
            self.flush()

    def flush(self):
        for name in TABLE_ORDER:
            rows = self.buffers[name]
            if rows:
                self._write(self.tables[name], rows)
                self.counts[name] += len(rows)
                self.buffers[name] = []
        self.pending = 0

    def _write(self, table, rows):
        if self.conn.dialect.name == "postgresql":
            self._copy(table, rows)
        elif self.conn.dialect.name == "sqlite":
            self._executemany(table, rows)
        else:
            self.conn.execute(table.insert(), rows)

    def _executemany(self, table, rows):
        """executemany on the DB-API cursor, values stored the way SQLAlchemy's SQLite types store them."""
        if table.name not in self.sqlite_plans:
            self.sqlite_plans[table.name] = _sqlite_plan(table)
        sql, pick, conversions = self.sqlite_plans[table.name]
        values = [pick(row) for row in rows]
        if conversions:
            for i, row in enumerate(values):
                row = list(row)
                for index, convert in conversions:
                    if row[index] is not None:
                        row[index] = convert(row[index])
                values[i] = tuple(row)
        self.conn.exec_driver_sql(sql, values)

    def _copy(self, table, rows):
        """COPY rows into a PostgreSQL table through psycopg 3."""
        columns = [c.name for c in table.columns]
        json_columns = {c.name for c in table.columns if c.type.__class__.__name__ == "JSON"}
        cursor = self.conn.connection.driver_connection.cursor()
        names = ", ".join(f'"{c}"' for c in columns)
        with cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row([json.dumps(row[c]) if c in json_columns and row[c] is not None else row[c]
                                for c in columns])

    def finish(self):
        self.flush()
        if self.conn.dialect.name == "postgresql":
            for name in TABLE_ORDER:
                self.conn.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                    f"COALESCE((SELECT MAX(id) FROM \"{name}\"), 0) + 1, false)"))


def _drop_sqlite_indexes(conn):
    """Drop the loaded tables' explicit indexes; return the statements that create them again."""
    rows = conn.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN "
        f"({', '.join('?' for _ in TABLE_ORDER)})", tuple(TABLE_ORDER)).all()
    for name, _ in rows:
        conn.exec_driver_sql(f'DROP INDEX "{name}"')
    return [sql for _, sql in rows]


def _sqlite_plan(table):
    """(INSERT statement, a function giving a row's values in column order, [(index, conversion)])."""
    names = [c.name for c in table.columns]
    sql = f'INSERT INTO "{table.name}" ({", ".join(names)}) VALUES ({", ".join("?" for _ in names)})'
    conversions = [(i, convert) for i, c in enumerate(table.columns)
                   if (convert := _sqlite_converter(c.type)) is not None]
    pick = operator.itemgetter(*names) if len(names) > 1 else (lambda row: (row[names[0]],))
    return sql, pick, conversions


def _sqlite_converter(column_type):
    """Return how SQLAlchemy stores a value of this type in SQLite, or None to pass it unchanged."""
    name = column_type.__class__.__name__
    if name == "DateTime":
        return lambda value: value.isoformat(" ", "microseconds")
    if name == "Date":
        return date.isoformat
    if name == "JSON":
        return json.dumps
    if name == "Boolean":
        return int
    if name == "Numeric":
        return float
    return None


def _key(name):
    """Normalize a name for matching: case, ё and spaces."""
    return " ".join(name.lower().replace("ё", "е").split())


def _at(day, hour=10):
    return datetime.combine(day, datetime.min.time()) + timedelta(hours=hour)


def generate(engine, *, schools=REGION["schools"], teachers_per_school=REGION["teachers_per_school"],
             activities_per_route=REGION["activities_per_route"], municipalities=None, seed=2023,
             today=None):
    """Fill an empty database (schema already created) with a region; return a Generated summary."""
    started = time.perf_counter()
    rng = random.Random(seed)
    today = today or date.today()
    now = utcnow()
    municipalities = municipalities or max(1, min(REGION["municipalities"], schools // 25 or 1))
    hashed = password_hash()
    result = Generated()

    with engine.begin() as conn:
        loader = _Loader(conn)
        # SQLite: the indexes are dropped for the load and built again after it, from their own SQL
        # (building an index from the loaded table sorts once; keeping it up row by row costs more).
        indexes = _drop_sqlite_indexes(conn) if conn.dialect.name == "sqlite" else []
        ids = Counter()

        def next_id(table):
            ids[table] += 1
            return ids[table]

        def user(login, role, full_name, school_id=None, municipality_id=None, curator_id=None,
                 position=""):
            uid = next_id("users")
            loader.add("users", id=uid, login=login, password_hash=hashed, full_name=full_name,
                       email=f"{login}@region.example.ru", role=role, school_id=school_id,
                       municipality_id=municipality_id, curator_id=curator_id, position=position,
                       active=True, session_nonce=secrets.token_hex(8), created_at=now - timedelta(days=900))
            return uid

        for m in range(1, municipalities + 1):
            loader.add("municipalities", id=m, name=f"Муниципальное образование № {m}",
                       department_name=f"Управление образования администрации муниципального образования № {m}",
                       place=f"ст. Районная-{m}", head_title="Начальник управления образования",
                       head_name=f"И.И. Начальник-{m}")
            # One diagnostic per municipality (its id equals the municipality's).
            loader.add("diagnostics", id=m, municipality_id=m, title=DIAGNOSTIC_TITLE,
                       title_key=_key(DIAGNOSTIC_TITLE), provider="ФГБУ «ФИОКО»", held_on=DIAGNOSTIC_DAY,
                       threshold=None, created_at=_at(DIAGNOSTIC_DAY + timedelta(days=10)))
        user("admin", "admin", "Администратор системы")
        heads = {m: user(f"dept{m:02d}", "department_head", demo._name(rng), municipality_id=m,
                         position="Начальник управления образования")
                 for m in range(1, municipalities + 1)}

        teacher_index = 0
        for s in range(1, schools + 1):
            m = (s - 1) % municipalities + 1
            school_name = f"СОШ № {s}"
            loader.add("schools", id=s, municipality_id=m, name=school_name)
            result.school_ids.append(s)
            user(f"head{s:04d}", "school_head", demo._name(rng, rng.random() < 0.7), s, m, position="Директор")
            curator_login = f"curator{s:04d}"
            curator = user(curator_login, "curator", demo._name(rng), s, m,
                           position="Заместитель директора по УВР")
            for _ in range(teachers_per_school):
                login = f"teacher{teacher_index + 1:05d}"
                subject = rng.choice(demo.SUBJECTS)
                position = "Учитель начальных классов" if subject == "Начальные классы" else "Учитель"
                teacher = user(login, "teacher", demo._name(rng, rng.random() < 0.85), s, m, curator,
                               position)
                plan = plan_of(teacher_index)
                deficits = rng.sample(demo.DEFICITS, 2)
                _diagnostic_results(loader, next_id, rng, teacher, m, s, deficits)
                # A few routes were drafted by hand rather than from the diagnostic (not in B2).
                diagnostic_id = m if rng.random() >= 0.05 else None
                route_id = _route(loader, next_id, rng, today, plan, teacher, curator, heads[m], s,
                                  school_name, m, position, subject, activities_per_route, deficits,
                                  diagnostic_id)
                result.b2 += int(diagnostic_id is not None and PLAN_STATE[plan] != "drafted")
                result.states[PLAN_STATE[plan]] += 1
                if plan == "reflected":
                    result.reflected.append((route_id, login, curator_login))
                teacher_index += 1
        loader.finish()
        for sql in indexes:
            conn.exec_driver_sql(sql)
        result.c2 = teacher_index
        result.counts = dict(loader.counts)
    _settle(engine)
    result.seconds = time.perf_counter() - started
    return result


def _settle(engine):
    """Leave the database as a running one would be after a bulk load."""
    if engine.dialect.name == "sqlite":
        # Fold the write-ahead log (as large as the data) back into the database file; outside any
        # transaction, so on the DB-API connection itself.
        raw = engine.raw_connection()
        try:
            # The planner's statistics first, as a running database has them (`flask init-db` and the
            # app's PRAGMA optimize keep them; after a bulk load every table changed).
            raw.driver_connection.execute("ANALYZE")
            raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()
        return
    if engine.dialect.name == "postgresql":
        # What autovacuum does after a bulk load (since PostgreSQL 13 it vacuums a table after inserts
        # too), done now so every run starts alike: the planner's statistics, and the visibility map
        # that lets an index-only scan answer without visiting the table. VACUUM runs outside a
        # transaction.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM (ANALYZE)"))


def _diagnostic_results(loader, next_id, rng, teacher, m, school_id, deficits):
    """Add the teacher's diagnostic results: the two deficit areas scored low, two others fine."""
    deficit_names = [d[0] for d in deficits]
    others = [c for c in COMPETENCIES if c not in deficit_names]
    names = deficit_names + rng.sample(others, RESULTS_PER_TEACHER - 2)
    created = _at(DIAGNOSTIC_DAY + timedelta(days=10))
    for name in names:
        deficit = name in deficit_names
        score = rng.randint(20, 49) if deficit else rng.randint(60, 100)
        loader.add("diagnostic_results", id=next_id("diagnostic_results"), teacher_id=teacher,
                   diagnostic_id=m, school_id=school_id, competency=name, competency_key=_key(name),
                   score=score, is_deficit=deficit, created_at=created, updated_at=created)


def _route(loader, next_id, rng, today, plan, teacher, curator, head, school_id, school_name, m,
           position, subject, activity_count, deficits, diagnostic_id):
    """Add one route with its activities, audit rows and corrections; return its id."""
    route_id = next_id("routes")
    state = PLAN_STATE[plan]
    lead = {"draft": -20, "review": -10, "approved": 5, "progress": rng.randint(30, 300),
            "correction": rng.randint(60, 300), "reflected": rng.randint(355, 380),
            "closed": rng.randint(380, 800), "archived": rng.randint(120, 300)}[plan]
    start = today - timedelta(days=lead)
    end = start + timedelta(days=365)
    created = _at(start - timedelta(days=21), 9)
    deficit, second = deficits
    # Each change the service would make, in order: (when, event or None for a plain edit, actor,
    # from, to, comment). Creating the route is version 1; every entry below adds one.
    changes = []
    clock = created

    def step(days, event=None, actor=teacher, source="drafted", dest="drafted", comment=""):
        nonlocal clock
        clock = min(clock + timedelta(days=days, minutes=rng.randint(0, 600)), _at(today, 8))
        changes.append((clock, event, actor, source, dest, comment))
        return clock

    review_requested_at = approved_at = None
    if plan != "draft":
        review_requested_at = step(3, "request_review")
    if state != "drafted":
        review_requested_at = None
        # Kept through the close and the archive (from in progress), as the workflow keeps it.
        approved_at = step(3, "approve", curator, "drafted", "curator_approved")
    if state in {"in_progress", "reflected", "closed"}:
        step(2, "start", teacher, "curator_approved", "in_progress")

    # The road map: stages in order, deadlines spread over the period.
    span = (end - start).days
    elapsed = max(0.0, min(1.0, (today - start).days / span))
    if plan in {"reflected", "closed"}:
        resolved = activity_count
    elif state == "in_progress" or plan == "archived":
        resolved = int(activity_count * elapsed * rng.uniform(0.6, 1.0))
    else:
        resolved = 0
    activities = []
    for i in range(activity_count):
        stage = STAGES[min(3, i * 4 // activity_count)]
        topic = deficit if i % 3 != 2 else second
        deadline = start + timedelta(days=(i + 1) * span // (activity_count + 1))
        status, product, product_url, reason, completed = "planned", "", "", "", None
        if i < resolved:
            completed = _at(min(deadline, today - timedelta(days=1)), 15)
            if plan in {"reflected", "closed"} and i == activity_count - 2 and rng.random() < 0.3:
                status, reason = "not_done", "Мероприятие перенесено организатором на следующий год"
            else:
                status, product = "done", RESULT_FORMS[i % len(RESULT_FORMS)]
                product_url = f"https://school{school_id}.example.ru/portfolio/{teacher}"
        activities.append(dict(
            id=next_id("activities"), route_id=route_id, position=i, stage=stage,
            direction=DIRECTIONS[i % 4], deficit=topic[0],
            tasks=topic[1] if i % 2 else TASK_TEMPLATES[i % len(TASK_TEMPLATES)],
            forms=FORMS[i % len(FORMS)], deadline=deadline, result_form=RESULT_FORMS[i % len(RESULT_FORMS)],
            status=status, product=product, product_url=product_url, product_file_id=None, reason=reason,
            completed_at=completed))
    for activity in activities:
        if activity["completed_at"] is not None:
            clock = max(clock, activity["completed_at"])
            changes.append((activity["completed_at"], None, teacher, state, state, ""))

    reflection = recommendations = ""
    if plan == "correction":
        step(1, "correction_requested", teacher, "in_progress", "in_progress",
             "Курсы перенесены организатором, прошу заменить мероприятие")
    if plan in {"reflected", "closed"}:
        reflection = REFLECTION
        step(1)  # the self-reflection written
        step(1, "submit_reflection", teacher, "in_progress", "reflected")
    if plan == "closed":
        recommendations = RECOMMENDATIONS
        step(2, None, curator)  # the recommendations written
        step(1, "close", curator, "reflected", "closed")
    if plan == "archived":
        step(5, "archive", head, "in_progress", "closed", "Педагог уволился в связи с переездом")

    state_changed_at = created
    for when, event, actor, source, dest, comment in changes:
        if event is None or event.startswith("correction"):
            continue
        state_changed_at = when
    if plan == "review":
        review_requested_at = state_changed_at

    loader.add("routes", id=route_id, teacher_id=teacher, curator_id=curator, school_id=school_id,
               diagnostic_id=diagnostic_id, state=state, version=1 + len(changes), period_start=start, period_end=end,
               workplace=f"МБОУ {school_name} муниципального образования № {m}",
               education=rng.choice(demo.EDUCATION), position=position, subject=subject,
               experience_years=rng.randint(1, 35), qualification_category=rng.choice(demo.CATEGORIES),
               attestation_date=start - timedelta(days=rng.randint(200, 1500)),
               request=f"Затруднения в области «{deficit[0].lower()}» по результатам диагностики "
                       f"профессиональных компетенций: {deficit[1].lower()}.",
               reflection=reflection, recommendations=recommendations,
               review_requested_at=review_requested_at, approved_at=approved_at,
               state_changed_at=state_changed_at,
               created_at=created, updated_at=max([created] + [c[0] for c in changes]))
    for row in activities:
        loader.add("activities", **row)
    for when, event, actor, source, dest, comment in changes:
        if event is None:
            continue
        loader.add("route_events", id=next_id("route_events"), route_id=route_id, actor_id=actor,
                   event=event, from_state=source, to_state=dest, comment=comment, created_at=when)
        if event == "correction_requested":
            loader.add("corrections", id=next_id("corrections"), route_id=route_id, requested_by_id=teacher,
                       reason=comment, proposal={"action": "add", "activity_id": None, "fields": {
                           "stage": "implementation", "direction": "methodical", "deficit": deficit[0],
                           "tasks": deficit[1], "forms": FORMS[3], "deadline": end.isoformat(),
                           "result_form": RESULT_FORMS[2]}},
                       previous_roadmap=None, status="pending", decided_by_id=None, decision_comment="",
                       created_at=when, decided_at=None)
    return route_id


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schools", type=int, default=REGION["schools"])
    parser.add_argument("--teachers-per-school", type=int, default=REGION["teachers_per_school"])
    parser.add_argument("--activities-per-route", type=int, default=REGION["activities_per_route"])
    parser.add_argument("--database-url", default=None, help="default: a fresh bench/scratch/region.sqlite3")
    args = parser.parse_args(argv)
    from bench.scratch import scratch_database
    with scratch_database(args.database_url, name="region", keep=True) as (url, app, notes):
        for note in notes:
            print(note)
        with app.app_context():
            generated = generate(db.engine, schools=args.schools, teachers_per_school=args.teachers_per_school,
                                 activities_per_route=args.activities_per_route)
        out = io.StringIO()
        print(f"Generated in {generated.seconds:.1f} s into {url}:", file=out)
        for name, count in generated.counts.items():
            print(f"  {name:20s} {count:>9,d}", file=out)
        print("  states: " + ", ".join(f"{k} {v:,d}" for k, v in sorted(generated.states.items())), file=out)
        print(out.getvalue(), end="")


if __name__ == "__main__":
    main()
