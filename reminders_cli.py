"""Command line of reminders: flask --app app remind [--days N] (daily, from cron)."""
import click
from flask import current_app
from flask.cli import with_appcontext

from workflow import reminders


@click.command("remind")
@click.option("--days", type=click.IntRange(min=0, max=365), default=None,
              help="Days ahead for activity deadlines and of waiting for curators (default REMIND_DAYS, 3).")
@with_appcontext
def remind_command(days):
    """Notify teachers of activities due soon or overdue and curators of routes waiting on them."""
    summary = reminders.run(days=days)
    mail = "писем отправлено: %d" % summary.mails if current_app.config.get("MAIL_SERVER") \
        else "почта не настроена (MAIL_SERVER)"
    click.echo(f"Напоминания на {summary.day:%d.%m.%Y} (срок {summary.days} дн.): "
               f"педагогов — {len(summary.teachers)}, кураторов — {len(summary.curators)}, "
               f"уведомлений — {summary.notifications}, уже отправлено сегодня — {summary.skipped}; {mail}.")
