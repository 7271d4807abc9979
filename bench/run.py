"""`make bench`: generate a region into a scratch database, measure against same-run baselines, report.

    .venv/bin/python -m bench.run                  # region scale, SQLite under bench/scratch/
    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test .venv/bin/python -m bench.run
    .venv/bin/python -m bench.run --quick          # a small district and small counts, for a try

Prints a table (each figure as a ratio against a baseline measured in the same run, absolute
numbers beside it, PASS/FAIL against the goal) and writes it to bench/results.md
(bench/results-postgresql.md for a run on PostgreSQL) with the machine, the versions and the date.
Exits non-zero only when a measurement crashed or saw wrong answers (non-2xx responses, figures or
document texts differing from the baseline's).
"""
import argparse
import os
import platform
import sqlite3
import sys
import time
import traceback
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from bench import measures
from bench.generate import REGION, generate
from bench.scratch import scratch_database

RESULTS = Path(__file__).resolve().parent / "results.md"
# A run on PostgreSQL keeps its own file, so the two databases' latest figures stand side by side.
RESULTS_BY_DATABASE = {"sqlite": RESULTS, "postgresql": RESULTS.with_name("results-postgresql.md")}


def results_path(url):
    """The file a run on this database writes its report to."""
    return RESULTS_BY_DATABASE.get(make_url(url).get_backend_name(), RESULTS)

PROFILES = {
    "region": dict(schools=REGION["schools"], teachers_per_school=REGION["teachers_per_school"],
                   transitions=3000, pages=1500, memory_transitions=10000, docx_repeat=15, bulk=1000),
    "quick": dict(schools=20, teachers_per_school=30, transitions=600, pages=300, memory_transitions=2000,
                  docx_repeat=5, bulk=100),
}


def measurements(profile):
    """The measurements in table order, each a (number, callable taking the Bench)."""
    return [
        (1, lambda b: measures.measure_transitions(b, requests=profile["transitions"])),
        (2, lambda b: measures.measure_pages(b, requests=profile["pages"])),
        (3, measures.measure_monitoring),
        (4, lambda b: measures.measure_route_docx(b, repeat=profile["docx_repeat"])),
        (5, lambda b: measures.measure_bulk_export(b, documents_count=profile["bulk"])),
        (6, measures.measure_query_counts),
        (7, lambda b: measures.measure_worker_memory(b, transitions=profile["memory_transitions"])),
    ]


def _versions():
    names = ["Flask", "SQLAlchemy", "Flask-SQLAlchemy", "gunicorn", "transitions", "docxtpl", "python-docx",
             "lxml", "Jinja2", "httpx", "psycopg"]
    found = {"Python": platform.python_version(), "SQLite": sqlite3.sqlite_version}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def _machine():
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split("\n")[0].split()[1])
        memory = f", {kb / 1024 / 1024:.1f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{cpu}, {os.cpu_count()} CPU cores{memory}; {platform.system()} {platform.release()}"


def _database_version(bench):
    from models import db
    with bench.app.app_context():
        if db.engine.dialect.name == "postgresql":
            return "PostgreSQL " + db.session.execute(text("SHOW server_version")).scalar_one()
        return "SQLite " + sqlite3.sqlite_version


def _fmt(value, unit):
    if unit in {"queries"}:
        return f"{value:.0f}"
    if unit == "s":
        return f"{value:.3f} s" if value >= 0.1 else f"{value * 1000:.1f} ms"
    if unit == "ms":
        return f"{value:.1f} ms"
    if unit == "MB":
        return f"{value:.1f} MB"
    return f"{value:,.1f} {unit}"


def table(figures):
    """Return the results as a Markdown table."""
    lines = ["| # | measurement | app | baseline | ratio | goal | result |",
             "|---|---|---:|---:|---:|---|---|"]
    for f in figures:
        lines.append(f"| {f.number} | {f.name} | {_fmt(f.value, f.unit)} | {_fmt(f.baseline, f.unit)} | "
                     f"{f.ratio:.2f} | {f.goal} | {'PASS' if f.passed else 'FAIL'} |")
    return "\n".join(lines)


def report(bench, figures, errors, profile_name, started, generation):
    """Return the whole Markdown report."""
    g = bench.generated
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    versions = ", ".join(f"{k} {v}" for k, v in _versions().items())
    counts = ", ".join(f"{name} {count:,}" for name, count in g.counts.items())
    states = ", ".join(f"{state} {count:,}" for state, count in sorted(g.states.items()))
    lines = [
        "# Benchmark results", "",
        f"- Date: {when}; profile `{profile_name}`; whole run {time.perf_counter() - started:.0f} s",
        f"- Machine: {_machine()}",
        f"- Database: {_database_version(bench)} (scratch)",
        f"- Versions: {versions}",
        f"- Data set: {counts}; routes by state: {states}; generated in {generation:.1f} s",
        "- Serving: gunicorn, 2 sync workers, loopback; load from a bounded asyncio/httpx client "
        "on the same machine (it shares the CPU with the server, for the app and the baselines alike)",
        "", table(figures), "",
    ]
    notes = [f"- {f.number}. {f.name}: {f.note}" for f in figures if f.note]
    notes += [f"- {note}" for note in bench.notes]
    notes += [f"- measurement {number} failed to run: {error}" for number, error in errors]
    if notes:
        lines += ["Notes:", ""] + notes + [""]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Region-scale benchmark of the IOM route workflow engine.")
    parser.add_argument("--quick", action="store_true", help="a small district and small counts")
    parser.add_argument("--only", default="", help="comma-separated measurement numbers, e.g. 1,6")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/results.md alone")
    args = parser.parse_args(argv)
    profile_name = "quick" if args.quick else "region"
    profile = PROFILES[profile_name]
    only = {int(n) for n in args.only.split(",") if n.strip()}
    started = time.perf_counter()

    with scratch_database(name="region") as (url, app, notes), \
            scratch_database(name="small") as (small_url, small_app, _):
        from models import db
        print(f"Generating {profile['schools']} schools x {profile['teachers_per_school']} teachers into "
              f"{url.split('@')[-1]} ...", flush=True)
        with app.app_context():
            generated = generate(db.engine, schools=profile["schools"],
                                 teachers_per_school=profile["teachers_per_school"])
        with small_app.app_context():
            small = generate(db.engine, schools=1, teachers_per_school=10)
        print(f"  {generated.counts} in {generated.seconds:.1f} s", flush=True)
        bench = measures.Bench(url=url, app=app, generated=generated, small_url=small_url, small_app=small_app,
                               small_generated=small, notes=list(notes))
        figures, errors = [], []
        for number, measure in measurements(profile):
            if only and number not in only:
                continue
            print(f"Measuring {number} ...", flush=True)
            t0 = time.perf_counter()
            try:
                result = measure(bench)
            except Exception as exc:  # report the failure in the table's notes, go on with the rest
                traceback.print_exc()
                errors.append((number, f"{type(exc).__name__}: {exc}"))
                continue
            for figure in result:
                print(f"  {figure.name}: {_fmt(figure.value, figure.unit)} vs {_fmt(figure.baseline, figure.unit)}"
                      f" = {figure.ratio:.2f} ({'PASS' if figure.passed else 'FAIL'}) [{time.perf_counter() - t0:.0f} s]",
                      flush=True)
            figures.extend(result)
        text_report = report(bench, figures, errors, profile_name, started, generated.seconds)
    print()
    print(text_report)
    if not args.no_write:
        path = results_path(url)
        path.write_text(text_report)
        print(f"Written to {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    # Missed goals are results (PASS/FAIL in the table); a measurement that crashed or saw wrong answers
    # (non-2xx, differing figures or texts) is a failure of the run.
    return 1 if errors or not figures or any(f.errors for f in figures) else 0


if __name__ == "__main__":
    sys.exit(main())
