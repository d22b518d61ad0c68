"""The refiner (decision 0032): a User-Agent a serving process has not seen gets the quick
answer on the request path; its full parse happens off it, lands in the persistent parse
cache under a keyed hash, and corrects the device rows and events stored meanwhile."""

from __future__ import annotations

import gc
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from safehold.access.models import AuditEntry
from safehold.analytics.models import LateEvent
from safehold.events import devices, refine
from safehold.events.devices import Device, Hints
from safehold.events.models import DeviceParse, Login, SubjectDevice
from safehold.runtime import Runtime
from tests.integration.events.conftest import Person, Send, stored

MIBOX = (
    "Mozilla/5.0 (Linux; Android 11; MIBOX4 Build/RP1A.201005.004; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/108.0.5359.128 Mobile Safari/537.36"
)
KEY = b"k" * 32


@pytest.fixture
def refiner(runtime: Runtime) -> Iterator[refine.Refiner]:
    devices.cache_clear()
    made = refine.Refiner(runtime.sessions, KEY, runtime.clock)
    devices.install(made)
    yield made
    devices.install(None)
    devices.cache_clear()


def play(subject: uuid.UUID, at: datetime, name: str = "channel.play") -> dict[str, object]:
    props = {"channel_id": "news-1"} if name == "channel.play" else {}
    return {"event_id": str(uuid.uuid4()), "subject_id": str(subject), "name": name,
            "timestamp": at.isoformat(), "properties": props}  # fmt: skip


def test_a_new_user_agent_is_answered_quickly_then_corrected(
    session: Session, person: Person, send: Send, refiner: refine.Refiner, runtime: Runtime
) -> None:
    ada = person()
    now = runtime.clock.now()
    outcomes = send([play(ada, now - timedelta(minutes=3)),
                     play(ada, now - timedelta(minutes=2), "login")],
                    context={"user_agent": MIBOX})  # fmt: skip
    assert [o.status for o in outcomes] == ["accepted", "accepted"]
    (quick,) = session.scalars(select(SubjectDevice).where(SubjectDevice.subject_id == ada))
    assert quick.device_type == "unknown"  # ua-parser alone cannot tell a box
    assert quick.fingerprint.startswith(devices.PROVISIONAL)
    assert [r["device_type"] for r in stored(session, subject_id=ada)] == ["unknown"]

    assert refiner.drain() == 1
    session.expire_all()
    (full,) = session.scalars(select(SubjectDevice).where(SubjectDevice.subject_id == ada))
    assert (full.device_type, full.brand, full.os_family) == ("set_top_box", "Xiaomi", "Android")
    assert not full.fingerprint.startswith(devices.PROVISIONAL)
    assert full.first_seen_at == now - timedelta(minutes=3)  # the quick row's span, kept
    assert [r["device_type"] for r in stored(session, subject_id=ada)] == ["set_top_box"]
    (signed_in,) = session.scalars(select(Login).where(Login.subject_id == ada))
    assert signed_in.device_id == full.id  # the sign-in moved to the corrected row
    audited = session.scalars(select(AuditEntry).where(AuditEntry.action == "devices.refine")).all()
    assert [e.subject_id for e in audited] == [ada]
    # The parse cache holds the answer under a keyed hash, never the string.
    (parsed,) = session.scalars(select(DeviceParse))
    assert parsed.key == refine.cache_key(KEY, MIBOX, Hints())
    assert "MIBOX" not in parsed.key
    assert parsed.device_type == "set_top_box"
    # The next sighting is answered from the LRU: the full answer at once.
    assert devices.detect(MIBOX).device_type == "set_top_box"
    assert devices.detect(MIBOX).pending is None


def test_the_parse_cache_is_shared_so_a_string_is_parsed_once(
    session: Session, person: Person, send: Send, refiner: refine.Refiner, runtime: Runtime
) -> None:
    send([play(person(), runtime.clock.now())], context={"user_agent": MIBOX})
    refiner.drain()
    # Another process (or this one after a restart): empty LRU, the same parse cache.
    devices.cache_clear()

    def never(user_agent: str, hints: Hints) -> Device:
        raise AssertionError("parsed again")

    other = refine.Refiner(runtime.sessions, KEY, runtime.clock, parse=never)
    devices.install(other)
    bo = person("Bo Tumbleweed")
    send([play(bo, runtime.clock.now())], context={"user_agent": MIBOX})
    # Found in the parse cache before the batch was checked: the full answer at once, so
    # nothing was queued and no row holds a quick answer to correct.
    assert other.queue.qsize() == 0
    assert not other.waiting
    assert other.drain() == 0
    session.expire_all()
    (row,) = session.scalars(select(SubjectDevice).where(SubjectDevice.subject_id == bo))
    assert row.device_type == "set_top_box"
    assert not row.fingerprint.startswith(devices.PROVISIONAL)
    assert [r["device_type"] for r in stored(session, subject_id=bo)] == ["set_top_box"]
    corrected = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "devices.refine", AuditEntry.subject_id == bo)
    ).all()
    assert corrected == []


def test_prefetch_asks_only_for_pairs_not_answered_or_waiting(runtime: Runtime) -> None:
    made = refine.Refiner(runtime.sessions, KEY, runtime.clock)
    assert made.prefetch([(MIBOX, Hints())]) == 0  # not in the parse cache: left to first sight
    waiting = made.first_sight(MIBOX, Hints())
    assert waiting.pending is not None
    made.refine([(MIBOX, Hints(), waiting.pending)])  # stored in the parse cache
    devices.cache_clear()
    other = refine.Refiner(runtime.sessions, KEY, runtime.clock)
    assert other.prefetch([(MIBOX, Hints()), (MIBOX, Hints(mobile="?0"))]) == 1
    assert devices.detect(MIBOX).device_type == "set_top_box"
    devices.cache_clear()


def test_a_full_queue_drops_the_string_until_it_is_seen_again(runtime: Runtime) -> None:
    small = refine.Refiner(runtime.sessions, KEY, runtime.clock, queue_size=1)
    first = small.first_sight(MIBOX, Hints())
    assert first.pending is not None
    assert small.queue.qsize() == 1
    assert small.first_sight(MIBOX, Hints()) is first  # waiting: not queued twice
    other = small.first_sight(MIBOX + " extra", Hints())
    assert other.pending is None  # kept as the quick answer: no row of its own per string
    assert small.dropped == 1
    assert small.queue.qsize() == 1


def test_the_cache_key_is_keyed_and_covers_the_hints() -> None:
    plain = refine.cache_key(KEY, MIBOX, Hints())
    assert len(plain) == 31
    assert plain == refine.cache_key(KEY, MIBOX, Hints())
    assert plain != refine.cache_key(b"o" * 32, MIBOX, Hints())
    assert plain != refine.cache_key(KEY, MIBOX, Hints(mobile="?0"))
    assert refine.derive_key(b"i" * 32) != b"i" * 32


def test_quick_answers_are_bounded_in_time() -> None:
    started = datetime.now(UTC)
    for n in range(200):
        devices.quick_answer(f"Mozilla/5.0 (Linux; Android 12; Box{n}) Chrome/120.0")
    assert datetime.now(UTC) - started < timedelta(seconds=2)  # ~50 µs each, not 20 ms


def test_a_parser_failure_keeps_the_quick_answer_and_logs_no_user_agent(
    runtime: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(user_agent: str, hints: Hints) -> Device:
        raise ValueError(f"cannot read {user_agent}")

    made = refine.Refiner(runtime.sessions, KEY, runtime.clock, parse=broken)
    made.first_sight(MIBOX, Hints())
    made.refine([made.queue.get_nowait()])
    assert devices.detect(MIBOX) == devices.quick_answer(MIBOX)
    captured = capsys.readouterr()
    assert "MIBOX" not in captured.out + captured.err
    devices.cache_clear()


def test_correcting_an_earlier_days_event_leaves_its_one_late_row(
    session: Session, person: Person, send: Send, refiner: refine.Refiner, runtime: Runtime
) -> None:
    ada = person()
    yesterday = runtime.clock.now() - timedelta(days=1)
    send([play(ada, yesterday)], context={"user_agent": MIBOX})
    assert refiner.drain() == 1
    (row,) = stored(session, subject_id=ada)
    assert row["device_type"] == "set_top_box"
    late = session.scalars(select(LateEvent.event_id)).all()
    assert late == [row["event_id"]]  # ingestion's row only: a roll-up counts it once


def test_the_first_parse_freezes_the_parsers_tables(runtime: Runtime) -> None:
    gc.unfreeze()
    made = refine.Refiner(runtime.sessions, KEY, runtime.clock)
    try:
        waiting = made.first_sight(MIBOX, Hints())
        assert not made.parsed
        assert waiting.pending is not None
        made.refine([(MIBOX, Hints(), waiting.pending)])
        assert made.parsed
        assert gc.get_freeze_count() > 0  # decision 0046: what loading matomo built stays
    finally:
        gc.unfreeze()
        devices.cache_clear()
