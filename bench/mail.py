"""E-mail throughput: messages per second from enqueue to acceptance by a local SMTP server
(aiosmtpd on loopback), beside bare ``smtplib`` loops sending the same messages over one
connection, in the same run:

- **bare, composing**: what an application without Safehold would run — names and addresses
  in memory, each e-mail rendered from the same templates and composed by the same code
  (:func:`safehold.comms.mail.compose`), then ``sendmail``;
- **bare, pre-built**: the protocol floor — the exact bytes the server accepted from
  Safehold, sent again, nothing else.

Safehold's figure includes everything a campaign costs: the submission (templates checked,
the policy decided per recipient, one outbox row each), then the worker's rounds (claim;
decide again, read and decrypt, audit and render per recipient; hand over in send
transactions sized to the server's pace (``jobs.next_group``) with a last look at the
choice and the suppression list; record each status). All loops send one message at a time
over one connection to the same in-process server, so the server's own cost is in each.

Target (issue 5): at least 0.5 of the bare loop. Both ratios are printed.

The e-mail provider is recorded as a recipient of every e-mail handed to it (issue 17, item
5: ``sharing.deliveries``, one upsert per send group). Its cost is measured in the same run:
the same Safehold loop with a copy of the policy that names no provider (nothing recorded),
interleaved with the others; "with/without" is their ratio (target: at most
:data:`RECORD_TARGET`, within the noise of a run).

    .venv/bin/python -m bench.mail [--messages 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import smtplib
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiosmtpd.controller import Controller

from bench._common import backends, free_port, fresh_runtime
from safehold.access.rules import Actor
from safehold.comms import jobs, service, templating, tokens
from safehold.comms.mail import MailConfig, SmtpMailer, compose
from safehold.comms.rules import MARKETING
from safehold.db import transaction
from safehold.logs import configure_logging
from safehold.policy import Policy
from safehold.runtime import Runtime
from safehold.subjects import rules
from safehold.subjects import service as subjects

ACTOR = Actor("system", "bench")
TARGET = 0.5
RECORD_TARGET = 1.05  # the delivery record may cost at most 5 % of the send
SUBJECT = "Spring offer for {{ name }}"
TEXT = "Dear {{ name }},\n\nOur spring offer is here.\n\nThe {{ operator }} team"


@dataclass
class Sink:
    """The SMTP server's handler: keeps each accepted message's envelope and bytes."""

    accepted: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: ARG002, N802
        with self.lock:
            self.accepted.append(
                (envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content))
            )
        return "250 OK"


@contextmanager
def smtp_sink() -> Iterator[tuple[int, Sink]]:
    sink, port = Sink(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, sink
    finally:
        controller.stop()


def populate(runtime: Runtime, count: int) -> list[uuid.UUID]:
    ctx = subjects.Context(runtime.vault, runtime.policy, runtime.clock)
    ids = []
    with transaction(runtime.sessions) as session:
        for i in range(count):
            contact = rules.contact(name=f"Bench Person{i}", email=f"bench.person{i}@example.com")
            person = subjects.register(
                session, ctx, actor=ACTOR, contact=contact, marketing_opt_in=True,
                policy_version="bench",
            )  # fmt: skip
            ids.append(person.id)
    return ids


def without_provider(policy: Policy) -> Policy:
    """The policy with no recipient marked ``delivers_email``: nothing is recorded."""
    recipients = tuple(r.model_copy(update={"delivers_email": False}) for r in policy.recipients)
    return policy.model_copy(update={"recipients": recipients})


def safehold_run(
    runtime: Runtime, port: int, ids: list[uuid.UUID], policy: Policy | None = None
) -> tuple[float, float]:
    """Seconds to enqueue, and seconds from enqueue to the last acceptance."""
    ctx = service.context(runtime)
    ctx = service.Context(
        ctx.vault,
        policy or ctx.policy,
        ctx.clock,
        MailConfig("https://safehold.example.com", "news@example.com", "Bench Operator"),
        ctx.book,
    )
    mailer = SmtpMailer("127.0.0.1", port)
    start = time.perf_counter()
    with transaction(runtime.sessions) as session:
        service.enqueue(
            session, ctx, actor=ACTOR, kind="marketing", subject_ids=ids, subject=SUBJECT,
            text=TEXT, html=None,
        )  # fmt: skip
    queued = time.perf_counter()
    sent = 0
    while True:
        report = jobs.deliver(runtime.sessions, ctx, mailer, worker="bench")
        sent += report.sent
        if not report.claimed:
            break
    done = time.perf_counter()
    mailer.close()
    if sent != len(ids):
        raise RuntimeError(f"Safehold sent {sent} of {len(ids)}")
    return queued - start, done - start


def bare_prebuilt(port: int, messages: list[tuple[str, list[str], bytes]]) -> float:
    """The bytes Safehold handed over, sent again through one smtplib connection."""
    conn = smtplib.SMTP("127.0.0.1", port)
    start = time.perf_counter()
    for mail_from, rcpt_tos, data in messages:
        conn.sendmail(mail_from, rcpt_tos, data)
    elapsed = time.perf_counter() - start
    conn.quit()
    return elapsed


def bare_composing(port: int, count: int) -> float:
    """Render, compose and send each e-mail: no database, no policy, no vault, no audit."""
    people = [(f"Bench Person{i}", f"bench.person{i}@example.com") for i in range(count)]
    config = MailConfig("https://safehold.example.com", "news@example.com", "Bench Operator")
    key = tokens.derive_key(b"\x00" * 32)
    conn = smtplib.SMTP("127.0.0.1", port)
    start = time.perf_counter()
    compiled = templating.compile_message(MARKETING, subject=SUBJECT, text=TEXT, html_source=None)
    for name, address in people:
        item = uuid.uuid4()
        token = tokens.make_token(key, item)
        rendered = compiled.render(
            {
                "name": name,
                "operator": "Bench Operator",
                "unsubscribe_url": config.unsubscribe_url(token),
            }
        )
        data = compose(
            config, rendered, to=address, message_id=f"<{item.hex}@example.com>",
            date=datetime.now(UTC), unsubscribe_token=token,
        )  # fmt: skip
        conn.sendmail(config.mail_from, [address], data)
    elapsed = time.perf_counter() - start
    conn.quit()
    return elapsed


def bench(backend: str, count: int, repeat: int) -> None:
    """``repeat`` rounds of the three loops, interleaved; the median of each is printed."""
    safehold, unrecorded, enqueue, prebuilt, composing = [], [], [], [], []
    with fresh_runtime(backend) as runtime, smtp_sink() as (port, sink):
        ids = populate(runtime, count)
        plain = without_provider(runtime.policy)
        for _ in range(repeat):
            sink.accepted.clear()
            enqueue_s, total_s = safehold_run(runtime, port, ids)
            same = list(sink.accepted)
            unrecorded.append(safehold_run(runtime, port, ids, plain)[1])
            prebuilt.append(bare_prebuilt(port, same))
            composing.append(bare_composing(port, count))
            safehold.append(total_s)
            enqueue.append(enqueue_s)
            if len(sink.accepted) != 4 * count:
                raise RuntimeError("a loop lost messages")
    total_s = statistics.median(safehold)
    rate = count / total_s
    print(
        f"\n {backend}: {count} marketing e-mails, enqueue to acceptance by aiosmtpd "
        f"(median of {repeat})"
    )
    print(f"  {'':<40} {'messages/s':>12} {'ms/message':>12} {'safehold/it':>12}")
    label = "safehold (enqueue + worker rounds)"
    print(f"  {label:<40} {rate:>12,.0f} {total_s / count * 1e3:>12.3f}")
    enqueue_ms = statistics.median(enqueue) / count * 1e3
    print(f"  {'  of which enqueue':<40} {'':>12} {enqueue_ms:>12.3f}")
    plain_s = statistics.median(unrecorded)
    record = total_s / plain_s
    verdict = "meets" if record <= RECORD_TARGET else "misses"
    print(
        f"  {'safehold, provider not recorded':<40} {count / plain_s:>12,.0f} "
        f"{plain_s / count * 1e3:>12.3f}"
    )
    print(f"  {'  with/without the delivery record':<40} {'':>12} {'':>12} {record:>12.2f}  "
          f"({verdict} <= {RECORD_TARGET})")  # fmt: skip
    for label, runs in (
        ("bare smtplib, composing", composing),
        ("bare smtplib, pre-built bytes", prebuilt),
    ):
        seconds = statistics.median(runs)
        ratio = rate / (count / seconds)
        verdict = "meets" if ratio >= TARGET else "misses"
        print(
            f"  {label:<40} {count / seconds:>12,.0f} {seconds / count * 1e3:>12.3f} "
            f"{ratio:>12.2f}  ({verdict} {TARGET})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    configure_logging("json", "error")
    for backend in backends():
        bench(backend, args.messages, args.repeat)


if __name__ == "__main__":
    main()
