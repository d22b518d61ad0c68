"""A recipient's webhook endpoint on a real loopback socket (http.server in a thread).

It verifies every request the way a processor would, with its own code written from the
Standard Webhooks specification (not Safehold's): HMAC-SHA256 over "id.timestamp.body" with
the base64-decoded secret, a timestamp within five minutes of *its* clock, and each
``webhook-id`` handled once. Its behaviour is scripted per request: fail, delay, accept.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOLERANCE = 300


@dataclass
class Received:
    notice_id: str
    timestamp: int
    body: dict[str, Any]
    authentic: bool
    duplicate: bool
    answered: int


@dataclass
class Receiver:
    secret: str
    now: Callable[[], int]
    script: list[str] = field(default_factory=list)  # "fail", "delay", "accept", "reject"
    delay: float = 1.0
    received: list[Received] = field(default_factory=list)
    handled: set[str] = field(default_factory=set)
    url: str = ""

    def _authentic(self, headers: Any, raw: bytes) -> bool:
        notice_id, stamp = headers.get("webhook-id"), headers.get("webhook-timestamp")
        signatures = headers.get("webhook-signature") or ""
        if not notice_id or not stamp or abs(self.now() - int(stamp)) > TOLERANCE:
            return False
        key = base64.b64decode(self.secret.removeprefix("whsec_"))
        mac = hmac.new(key, f"{notice_id}.{stamp}.".encode() + raw, hashlib.sha256).digest()
        expected = "v1," + base64.b64encode(mac).decode()
        return any(hmac.compare_digest(expected, s) for s in signatures.split())

    def handle(self, headers: Any, raw: bytes) -> int:
        behaviour = self.script.pop(0) if self.script else "accept"
        authentic = self._authentic(headers, raw)
        notice_id = headers.get("webhook-id") or ""
        duplicate = notice_id in self.handled
        status = 401 if not authentic else 503 if behaviour == "fail" else 200
        if status == 200:
            self.handled.add(notice_id)  # taken on at arrival: a repeat is recognised
        self.received.append(
            Received(notice_id, int(headers.get("webhook-timestamp") or 0), json.loads(raw),
                     authentic, duplicate, status)
        )  # fmt: skip
        if behaviour == "delay":
            time.sleep(self.delay)  # longer than the sender waits: it gives up, we finish
        return status


@contextmanager
def serve(receiver: Receiver) -> Iterator[Receiver]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            status = receiver.handle(self.headers, raw)
            try:
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the sender timed out and hung up

        def log_message(self, *_args: object) -> None:  # quiet: the test reads `received`
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/safehold"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
