"""Notifications test doubles (fakes, not mocks): a real HTTP receiver standing for a partner's webhook endpoint, the
tests' DNS, and a publisher keeping what it was given."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from services.common.egress import EgressRefusedError
from tests.helpers import free_port


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    status: int = 0

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def event(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.body)
        return document


@dataclass
class Receiver:
    """A threaded http.server on a free port; `answer(request) -> status` decides each response."""

    port: int = field(default_factory=free_port)
    answer: Callable[[Received], int] = lambda _: 200
    requests: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/rls"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                received = Received({k.lower(): v for k, v in self.headers.items()}, body)
                with receiver._lock:
                    received.status = receiver.answer(received)
                    receiver.requests.append(received)
                self.send_response(received.status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def accepted(self) -> list[Received]:
        """What the receiver processed: 2xx answers, duplicates (same webhook-id) dropped as a receiver would."""
        seen: set[str] = set()
        kept = []
        with self._lock:
            for request in self.requests:
                if 200 <= request.status < 300 and request.webhook_id not in seen:
                    seen.add(request.webhook_id)
                    kept.append(request)
        return kept

    def accepted_ids(self) -> list[str]:
        return [r.event["id"] for r in self.accepted()]


def example_dns(host: str, port: int) -> list[str]:
    """The tests' DNS: `*.example` names are a public address (subscriptions accept them; no test connects there),
    other names do not resolve. No test asks a real resolver."""
    if host.endswith(".example"):
        return ["93.184.215.14"]
    raise EgressRefusedError("the host does not resolve")


def no_dns(host: str, port: int) -> list[str]:
    """Workers under test reach only numeric 127.0.0.1 receivers: any name is refused before a packet leaves."""
    raise EgressRefusedError("the host does not resolve")


class RecordingPublisher:
    """A fake Kafka publisher (unit and application tests): keeps what it was given."""

    def __init__(self) -> None:
        self.published: list[Any] = []
        self.failing = False

    def publish(self, messages: Any) -> None:
        if self.failing:
            raise ConnectionError("broker unreachable")
        self.published.extend(messages)
