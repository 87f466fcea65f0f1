"""A real SMTP server for tests (aiosmtpd on a free local port), reusable by any test.

    def test_…(smtp_server, entity_smtp):   # entity_smtp points ZR7/MDL mail at it
        …
        assert smtp_server.messages[0]["From"] == "livraison@zr7.test"

`smtp_server.refuse = True` makes it answer 451 to every message; an address put in
`smtp_server.unknown` is refused at RCPT (550) while the others still get the message;
`smtp_server.stop()` takes it down (connection refused) and `smtp_server.start()` brings it back.
`smtp_server.stall_seconds = 10` holds the next recipient that many seconds before answering
(a hung mail server: the sender is stuck before any message is taken); `stalled` is set then.
"""

import asyncio
import email
import email.policy
import logging
import socket
import threading

import pytest
from aiosmtpd.controller import Controller

# aiosmtpd logs every SMTP command at INFO: too noisy in test output.
logging.getLogger("mail.log").setLevel(logging.WARNING)

ENTITY_SENDERS = {"ZR7": "livraison@zr7.test", "MDL": "livraison@mdl.test"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SmtpSink:
    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = free_port()
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refuse = False
        self.unknown: set[str] = set()
        self.stall_seconds = 0.0
        self.stalled = threading.Event()
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    # aiosmtpd handler hooks
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.stall_seconds:
            delay, self.stall_seconds = self.stall_seconds, 0.0
            self.stalled.set()
            await asyncio.sleep(delay)
        if address in self.unknown:
            return "550 5.1.1 Destinataire inconnu"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.refuse:
            return "451 4.3.0 Service temporairement indisponible"
        message = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append(message)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"

    def start(self) -> None:
        self._controller = Controller(self, hostname=self.host, port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @staticmethod
    def attachments(message) -> list[tuple[str, bytes]]:
        return [(part.get_filename(), part.get_payload(decode=True)) for part in message.iter_attachments()]


@pytest.fixture
def smtp_server():
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def entity_smtp(settings, smtp_server):
    """Both entities' SMTP accounts point at the test server, each with its own sender."""
    settings.ENTITY_EMAIL = {
        entity: {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": smtp_server.host,
            "EMAIL_PORT": smtp_server.port,
            "EMAIL_HOST_USER": "",
            "EMAIL_HOST_PASSWORD": "",
            "EMAIL_USE_TLS": False,
            "EMAIL_USE_SSL": False,
            "FROM": sender,
        }
        for entity, sender in ENTITY_SENDERS.items()
    }
    settings.EMAIL_TIMEOUT = 5
    return smtp_server
