"""Sharing: what recording a disclosure costs beside a plain purpose-scoped read of the same
data, and what a signed, claimed, recorded webhook notice costs beside a plain HTTP POST of
the same body to the same loopback receiver, in the same run; plus the time to queue one
person's erasure notices and to generate the record of processing activities.

    .venv/bin/python -m bench.sharing [--people N] [--notices N]
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from collections.abc import Callable

import httpx
from fastapi import FastAPI, Response

from bench._common import Timing, backends, fresh_runtime, row, served, timed
from safehold.access.rules import Actor
from safehold.config import Settings
from safehold.db import transaction
from safehold.logs import configure_logging
from safehold.runtime import Runtime
from safehold.sharing import jobs, propagation, ropa, service, webhooks
from safehold.subjects import payments, rules
from safehold.subjects import service as subjects

ACTOR = Actor("system", "bench")
CATEGORIES = ["account.name", "account.email", "account.payment"]
SECRET = webhooks.new_secret()


def header(title: str, baseline: str = "") -> None:
    print(f"\n{title}")
    row("", "safehold", baseline, "ratio" if baseline else "")


def people(runtime: Runtime, n: int) -> list[uuid.UUID]:
    ctx = subjects.Context(runtime.vault, runtime.policy, runtime.clock)
    ids = []
    with transaction(runtime.sessions) as s:
        for i in range(n):
            contact = rules.contact(
                name=f"Bench Person{i}", email=f"bench{i}.{uuid.uuid4().hex[:6]}@example.com"
            )
            sid = subjects.register(
                s, ctx, actor=ACTOR, contact=contact, marketing_opt_in=True, policy_version="b"
            ).id
            payments.add(
                s, ctx, sid, actor=ACTOR, processor="example-pay", token=f"pm_{i}",
                brand="visa", last4="4242", exp_month=7, exp_year=2031,
            )  # fmt: skip
            ids.append(sid)
    return ids


def disclosures(runtime: Runtime, ids: list[uuid.UUID]) -> None:
    ctx = subjects.Context(runtime.vault, runtime.policy, runtime.clock)

    def disclose_one(i: int) -> None:
        with transaction(runtime.sessions) as s:
            service.disclose(
                s, ctx, actor=ACTOR, recipient="payment_processor", purpose="service_provision",
                subject_ids=[ids[i % len(ids)]], categories=CATEGORIES, reference=None,
            )  # fmt: skip

    def read_one(i: int) -> None:
        with transaction(runtime.sessions) as s:
            view = subjects.read(
                s, ctx, ids[i % len(ids)], purpose="service_provision", actor=ACTOR,
                categories=CATEGORIES,
            )  # fmt: skip
            payments.views(s, ctx, view.subject.id)

    batch = ids[:100]

    def disclose_batch(_i: int) -> None:
        with transaction(runtime.sessions) as s:
            service.disclose(
                s, ctx, actor=ACTOR, recipient="payment_processor", purpose="service_provision",
                subject_ids=batch, categories=CATEGORIES, reference=None,
            )  # fmt: skip

    def read_batch(_i: int) -> None:
        for i in range(len(batch)):
            read_one(i)

    n = len(ids)
    one, one_base = interleaved(disclose_one, read_one, n)
    many, many_base = interleaved(disclose_batch, read_batch, 5)
    header(" disclosure of name, e-mail and card, beside reading the same", "read")
    row("one person per request, median ms", f"{one.median * 1e3:.3f}",
        f"{one_base.median * 1e3:.3f}", f"{one.median / one_base.median:.2f}x")  # fmt: skip
    row("one person per request, p99 ms", f"{one.p99 * 1e3:.3f}",
        f"{one_base.p99 * 1e3:.3f}", f"{one.p99 / one_base.p99:.2f}x")  # fmt: skip
    per, per_base = many.median / len(batch), many_base.median / len(batch)
    row(f"{len(batch)} people per request, ms per person", f"{per * 1e3:.3f}",
        f"{per_base * 1e3:.3f}", f"{per / per_base:.2f}x")  # fmt: skip


def interleaved(
    operation: Callable[[int], object], baseline: Callable[[int], object], n: int
) -> tuple[Timing, Timing]:
    """Time the two alternately, so load that comes and goes hits both alike."""
    ours: list[float] = []
    base: list[float] = []
    for i in range(n):
        ours.extend(timed(lambda _j, i=i: operation(i), 1).samples)
        base.extend(timed(lambda _j, i=i: baseline(i), 1).samples)
    return Timing(ours), Timing(base)


def notices(runtime: Runtime, ids: list[uuid.UUID], count: int) -> None:
    receiver = FastAPI()

    @receiver.post("/hook")
    def hook() -> Response:
        return Response(status_code=204)

    with served(receiver) as base:
        hooked = Runtime(
            settings=Settings(
                data_dir=runtime.settings.data_dir, policy=runtime.settings.policy,
                database_url=runtime.settings.database_url,
                recipient_webhooks=json.dumps(
                    {"payment_processor": {"url": f"{base}/hook", "secret": SECRET}}
                ),
            ),
            engine=runtime.engine, sessions=runtime.sessions, policy=runtime.policy,
            vault=runtime.vault, clock=runtime.clock,
        )  # fmt: skip
        queue = timed(lambda i: erase(runtime, ids[i]), count)
        start = time.perf_counter()
        report = jobs.deliver_due(hooked)
        delivered = time.perf_counter() - start
        assert report.delivered == count, report
        body = json.dumps({"type": "subject.erased", "data": {"id": str(uuid.uuid4())}}).encode()
        with httpx.Client() as client:
            start = time.perf_counter()
            for _ in range(count):
                client.post(f"{base}/hook", content=body).raise_for_status()
            plain = time.perf_counter() - start
    header(" Art. 19 notices to a loopback webhook (uvicorn)", "plain POST")
    row("queue one person's erasure notices, median ms", f"{queue.median * 1e3:.3f}")
    row("signed + claimed + recorded, notices/s", f"{count / delivered:,.0f}",
        f"{count / plain:,.0f}", f"{delivered / plain:.2f}x")  # fmt: skip


def erase(runtime: Runtime, sid: uuid.UUID) -> None:
    with transaction(runtime.sessions) as s:
        propagation.notify_erasure(s, sid, policy=runtime.policy, clock=runtime.clock, actor=ACTOR)


def record(runtime: Runtime) -> None:
    def build(_i: int) -> None:
        with transaction(runtime.sessions) as s:
            live = ropa.figures(
                s, vault=runtime.vault, now=runtime.clock.now(), webhooks=[], verify_audit=False
            )
        ropa.render_html(ropa.build(runtime.policy, live, generated_at=runtime.clock.now()))

    def verified(_i: int) -> None:
        with transaction(runtime.sessions) as s:
            ropa.figures(
                s, vault=runtime.vault, now=runtime.clock.now(), webhooks=[], verify_audit=True
            )

    header(" record of processing activities (HTML)")
    row("generate from live figures, median ms", f"{timed(build, 10).median * 1e3:.3f}")
    row("with the audit chain verified, median ms", f"{timed(verified, 3).median * 1e3:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=300)
    parser.add_argument("--notices", type=int, default=300)
    args = parser.parse_args()
    configure_logging("json", "warning")  # one log line per notice would time the terminal
    for backend in backends():
        print(f"\n=== sharing — {backend} ===")
        with fresh_runtime(backend) as runtime:
            ids = people(runtime, max(args.people, args.notices, 100))
            disclosures(runtime, ids[: args.people])
            notices(runtime, ids, args.notices)
            record(runtime)


if __name__ == "__main__":
    main()
