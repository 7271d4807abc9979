"""Command line of diagnostics: flask --app app diagnostics import FILE [--dry-run]."""
import sys
from pathlib import Path

import click
from flask.cli import AppGroup
from sqlalchemy import select

from models import Municipality, db
from workflow import diagnostics
from workflow.errors import WorkflowError
from workflow.spreadsheets import MAX_FILE_BYTES, ImportFailed

diagnostics_cli = AppGroup("diagnostics", help="Import diagnostic results of teachers.")


def _fail(message):
    """Print a one-line error and exit non-zero, never a traceback."""
    click.echo(f"Ошибка: {message}", err=True)
    sys.exit(1)


def _where(item):
    parts = []
    if item.get("row") is not None:
        parts.append(f"строка {item['row']}")
    if item.get("column"):
        parts.append(f"столбец «{item['column']}»")
    return (", ".join(parts) + ": ") if parts else ""


@diagnostics_cli.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check the file and show what would change; import nothing.")
@click.option("--threshold", default=None, help="Deficit threshold for files without the «Дефицит» column.")
@click.option("--provider", default="", help="Who held the diagnostic, e.g. ФИОКО.")
@click.option("--municipality", default=None, help="Municipality name (default: the first one).")
def import_command(file, dry_run, threshold, provider, municipality):
    """Import diagnostic results from a CSV or XLSX FILE: all rows or none."""
    try:
        if not file.is_file():
            _fail(f"файл {file} не найден")
        if file.stat().st_size > MAX_FILE_BYTES:
            _fail(f"файл больше {MAX_FILE_BYTES // (1024 * 1024)} МБ")
        data = file.read_bytes()
    except OSError as exc:
        _fail(f"не удалось прочитать файл {file}: {exc.strerror or exc}")
    target = None
    if municipality:
        target = db.session.execute(select(Municipality).where(Municipality.name == municipality)).scalar_one_or_none()
        if target is None:
            _fail(f"муниципалитет «{municipality}» не найден")
    try:
        summary = diagnostics.import_results(data, actor=None, municipality=target, dry_run=dry_run,
                                             threshold=threshold, provider=provider, file_name=file.name)
    except ImportFailed as exc:
        db.session.rollback()
        for item in exc.errors:
            click.echo(f"Ошибка: {_where(item)}{item['message']}", err=True)
        click.echo(f"Файл не импортирован: ошибок — {len(exc.errors)}.", err=True)
        sys.exit(1)
    except WorkflowError as exc:
        db.session.rollback()
        _fail(exc.message)
    verb = "Проверка (ничего не импортировано)" if dry_run else "Импорт завершён"
    click.echo(f"{verb}: строк {summary['rows']}, педагогов {summary['teachers']}, дефицитов "
               f"{summary['deficits']}; новых {summary['created']}, изменённых {summary['updated']}, "
               f"без изменений {summary['unchanged']}.")
    for item in summary["diagnostics"]:
        mark = " (новая)" if item["new"] else ""
        click.echo(f"  {item['title']} от {item['held_on'][8:10]}.{item['held_on'][5:7]}.{item['held_on'][:4]}"
                   f"{mark}: педагогов {item['teachers']}")
