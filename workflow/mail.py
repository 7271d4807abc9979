"""E-mail through SMTP (smtplib), only when MAIL_SERVER is configured.

Callers hand over finished messages after their transaction has committed; a failure to connect
or to deliver is logged and swallowed, so mail can never break or undo a user's action.
"""
import logging
import smtplib
import ssl
from email.message import EmailMessage

from flask import current_app

log = logging.getLogger(__name__)


def enabled(app=None):
    """Tell whether mail is configured (MAIL_SERVER set); without it nothing is ever sent."""
    app = app or current_app
    return bool(app.config.get("MAIL_SERVER"))


def build(to, subject, body, app=None):
    """Return an EmailMessage from the configured sender to one address."""
    app = app or current_app
    message = EmailMessage()
    sender = app.config.get("MAIL_DEFAULT_SENDER") or app.config.get("MAIL_USERNAME") or "iom@localhost"
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    return message


def send(messages, app=None):
    """Send the messages over one SMTP connection; return how many were accepted (failures are logged)."""
    app = app or current_app
    messages = list(messages)
    if not messages or not enabled(app):
        return 0
    config = app.config
    host, port = config["MAIL_SERVER"], int(config.get("MAIL_PORT") or (465 if config.get("MAIL_USE_SSL") else 25))
    timeout = float(config.get("MAIL_TIMEOUT") or 10)
    sent = 0
    try:
        if config.get("MAIL_USE_SSL"):
            smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(host, port, timeout=timeout)
        with smtp:
            if config.get("MAIL_USE_TLS") and not config.get("MAIL_USE_SSL"):
                smtp.starttls(context=ssl.create_default_context())
            if config.get("MAIL_USERNAME"):
                smtp.login(config["MAIL_USERNAME"], config.get("MAIL_PASSWORD") or "")
            for message in messages:
                try:
                    smtp.send_message(message)
                    sent += 1
                except smtplib.SMTPException:
                    log.exception("Mail to %s was not accepted", message["To"])
    except (OSError, smtplib.SMTPException):
        log.exception("Mail could not be sent through %s:%s (%d of %d sent)", host, port, sent, len(messages))
    return sent
