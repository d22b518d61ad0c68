"""Sealed addresses at ingestion (decision 0043, "IP addresses"): known people's events
through the ingestion service (in-process, committed per batch) with an address in the batch
context — sealed under the person's ``network_ip@YYYY-MM`` key — beside the same events with
no address (what an event without an address costs: no key, nothing to seal), in the same
run and database, the arms taking turns (who goes first, and which of two sets of people
each gets, alternating), best of the rounds. ``--no-gc`` keeps the garbage collector out of
the timed arms (its collections land on whichever arm crosses a threshold).

    .venv/bin/python -m bench.addresses [--batches 6] [--batch 500] [--people 250] [--rounds 8]
"""

from __future__ import annotations

import argparse
import gc
import uuid

from bench import epochs
from bench._common import backends, fresh_runtime, header, row
from bench.epochs import run_arm
from bench.ingest import register_people
from safehold.events import service as events_service
from safehold.events.schemas import BatchIn
from safehold.logs import configure_logging
from safehold.runtime import Runtime


def batches(
    runtime: Runtime, people: list[uuid.UUID], count: int, size: int, *, address: bool
) -> list[BatchIn]:
    return epochs.batches(
        runtime, people, count, size, name="channel.play",
        properties=lambda _n: {"channel_id": "news-1"},
        context={"ip": "203.0.113.7"} if address else None,
    )  # fmt: skip


def timed(
    runtime: Runtime, ctx: events_service.Context, work: list[BatchIn], *, gc_off: bool
) -> float:
    gc.collect()
    if gc_off:
        gc.disable()
    try:
        return run_arm(runtime, ctx, work)
    finally:
        gc.enable()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--people", type=int, default=250)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--no-gc", action="store_true")
    args = parser.parse_args()
    configure_logging("json", "warning")
    for backend in backends():
        with fresh_runtime(backend) as runtime:
            ctx = events_service.Context(runtime.vault, runtime.policy, runtime.clock,
                                         runtime.book)  # fmt: skip
            sets = [register_people(runtime, args.people), register_people(runtime, args.people)]
            for people in sets:  # warm: everyone's month key made, caches filled
                run_arm(runtime, ctx, batches(runtime, people, 2, args.batch, address=True))
            best = {True: float("inf"), False: float("inf")}
            for n in range(args.rounds):
                order = (True, False) if n % 2 == 0 else (False, True)
                for k, address in enumerate(order):
                    work = batches(runtime, sets[(n // 2 + k) % 2], args.batches, args.batch,
                                   address=address)  # fmt: skip
                    took = timed(runtime, ctx, work, gc_off=args.no_gc)
                    best[address] = min(best[address], took)
            n = args.batches * args.batch
            gc_note = ", GC off in the arms" if args.no_gc else ""
            header(f"Sealed addresses at ingestion — {backend}, {n} events a round, best of "
                   f"{args.rounds}{gc_note}")  # fmt: skip
            without, sealed = n / best[False], n / best[True]
            row("events without an address", f"{without:,.0f} events/s")
            row("events with a sealed address", f"{sealed:,.0f} events/s", "",
                f"{sealed / without:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
