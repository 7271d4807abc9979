"""A local SMTP server on loopback (aiosmtpd) that keeps the messages it receives."""
from email import message_from_bytes
from email.policy import default

from aiosmtpd.controller import Controller

from tests._servers import free_port


class Inbox:
    """What the server received: (envelope recipients, parsed message) pairs."""

    def __init__(self, fail=False):
        self.messages = []
        self.fail = fail

    async def handle_DATA(self, server, session, envelope):
        if self.fail:
            return "554 Transaction failed"
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content, policy=default)))
        return "250 Message accepted for delivery"

    def to(self, address):
        return [message for rcpt, message in self.messages if address in rcpt]

    def body(self, message):
        return message.get_body(("plain",)).get_content()


class SmtpServer:
    def __init__(self, fail=False):
        self.inbox = Inbox(fail)
        self.port = free_port()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()

    def configure(self, app, **extra):
        app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=self.port, MAIL_USE_TLS=False, MAIL_USE_SSL=False,
                          MAIL_USERNAME=None, MAIL_DEFAULT_SENDER="iom@example.ru",
                          APP_BASE_URL="https://iom.example.ru", **extra)
