"""The refiner: full parses off the request path, a persistent parse cache, and corrections.

A serving process installs one (:func:`start`). Before a batch's checks, the batch's pairs its
LRU does not hold are looked up in the persistent parse cache ``device_parses`` in one query
(:meth:`Refiner.prefetch`): what any process parsed before is answered fully at once. For a
pair still unknown, :meth:`Refiner.first_sight` answers at once with the quick parse
(ua-parser, hints, IPTV layer) and queues the pair; a person's device row written from that
answer gets a fingerprint of its own (``~`` + the pair's parse-cache key). The refiner's
thread then takes the full answer from the persistent cache ``device_parses`` or, for a pair
no process has parsed yet, parses it with matomo's detector and stores it there; it puts it
in the LRU, and corrects what was stored with the quick answer: each person's device row
becomes the full answer's (merged into an existing one, sign-ins moved over), and the
person's events of that device and time span take the full answer's fields. Each correction
is audited.

The queue is bounded: when it is full the pair is dropped — its events and device row keep
the quick answer, under the quick answer's own fingerprint — and its next sighting queues it
again, so a flood of new strings costs ingestion one quick parse each and nothing more. The
parse-cache key is an HMAC under a key derived from the vault's index key, never the string:
neither the raw User-Agent nor the hints are written to the database or to a log.
"""

from __future__ import annotations

import hmac
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from hashlib import sha256

import structlog
from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from safehold import heap, keys
from safehold.access import audit
from safehold.access.rules import Actor
from safehold.clock import Clock
from safehold.events import corrections, devices, matomo, storage
from safehold.events.devices import PROVISIONAL, Device, Hints
from safehold.events.models import DeviceParse, SubjectDevice

QUEUE_SIZE = 1_000  # pairs waiting for a full parse; more are dropped until seen again
TAKE = 100  # pairs refined per transaction
SWEEP_SECONDS = 5.0  # how often leftover quick answers (any process's) are looked for
# The share of one core the refiner's parses may take: it shares the serving process's GIL
# with the requests, so after a parse of t seconds it rests t * (1 - DUTY) / DUTY.
DUTY = 0.25
KEY_INFO = b"safehold/device-parse-cache/v1"
ACTOR = Actor("system", "devices.refine")
DEVICE_CATEGORY, PURPOSE = "device.info", "service_provision"  # as events.service records
_PARSES: Table = DeviceParse.__table__  # type: ignore[assignment]
log = structlog.get_logger(__name__)

Item = tuple[str, Hints, str]  # User-Agent, hints, parse-cache key


def derive_key(index_key: bytes) -> bytes:
    """The parse cache's HMAC key: HKDF of the index key under a label of its own."""
    return keys.derive(index_key, KEY_INFO)


def cache_key(key: bytes, user_agent: str, hints: Hints) -> str:
    """HMAC-SHA256 of the pair, 31 hex digits (124 bits): the parse cache's key."""
    parts = (user_agent, hints.ua, hints.mobile, hints.platform, hints.platform_version,
             hints.model)  # fmt: skip
    text = "\x1f".join(p if p is not None else "\x00" for p in parts)
    return hmac.new(key, text.encode("utf-8", "surrogatepass"), sha256).hexdigest()[:31]


class Refiner:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        key: bytes,
        clock: Clock,
        *,
        queue_size: int = QUEUE_SIZE,
        parse: Callable[[str, Hints], Device] = devices.detect_uncached,
    ) -> None:
        self.sessions, self.key, self.clock, self.parse = sessions, key, clock, parse
        self.queue: queue.Queue[Item] = queue.Queue(maxsize=queue_size)
        self.waiting: dict[tuple[str, Hints], Device] = {}  # quick answers given out
        self.dropped = 0  # pairs not queued because the queue was full
        self.parsed = False  # has parsed once (and frozen the parser's tables, decision 0046)
        self.stop = threading.Event()

    # --- the request path ---------------------------------------------------------------

    def first_sight(self, user_agent: str, hints: Hints) -> Device:
        """The quick answer, marked pending; the pair queued for its full parse."""
        found = self.waiting.get((user_agent, hints))
        if found is not None:
            return found
        quick = devices.quick_answer(user_agent, hints)
        if self.queue.full():
            # Dropped: the quick answer as it is, kept as such (a row of its own per new
            # string would let a flood multiply device rows); its next sighting queues it.
            self.dropped += 1
            return quick
        pending = cache_key(self.key, user_agent, hints)
        device = replace(quick, pending=pending)
        try:
            self.queue.put_nowait((user_agent, hints, pending))
        except queue.Full:  # filled by another thread meanwhile
            self.dropped += 1
            return quick
        self.waiting[(user_agent, hints)] = device
        return device

    def prefetch(self, pairs: Sequence[tuple[str, Hints]]) -> int:
        """Put in the LRU the full answers the parse cache already holds for ``pairs`` (a
        batch's pairs this process has not seen), in one query: a pair any process parsed
        before (this one before a restart, too) then needs no quick answer and no
        correction. How many were found; a database error leaves them to first sight."""
        wanted = {
            cache_key(self.key, ua, hints): (ua, hints)
            for ua, hints in pairs
            if ua and (ua, hints) not in self.waiting
        }
        if not wanted:
            return 0
        p = DeviceParse
        query = select(p.key, p.device_type, p.os_family, p.os_major, p.browser_family,
                       p.browser_major, p.brand)  # fmt: skip
        try:
            with self.sessions() as session:
                rows = session.execute(
                    query.where(p.key.in_(wanted), p.parser == matomo.PARSER)
                ).all()
        except SQLAlchemyError as exc:
            log.warning("devices.prefetch_failed", pairs=len(wanted), error=type(exc).__name__)
            return 0
        for key, kind, os_family, os_major, browser, browser_major, brand in rows:
            device = Device(kind, os_family, os_major, browser, browser_major, brand)
            devices.remember(*wanted[key], device)
        return len(rows)

    # --- the refiner's thread -----------------------------------------------------------

    def run(self) -> None:
        """Refine until stopped; sweep for leftover quick answers every few seconds. matomo's
        tables load at the first parse, not at start: the start is not slowed by them."""
        swept = time.monotonic()
        while not self.stop.is_set():
            items = self._take(timeout=1.0)
            try:
                if items:
                    self.refine(items)
                now = time.monotonic()
                if items or now - swept >= SWEEP_SECONDS:
                    self.correct()
                    swept = now
            except Exception as exc:  # a database outage must not end the thread
                log.warning("devices.refine_failed", pairs=len(items), error=type(exc).__name__)
                self.stop.wait(SWEEP_SECONDS)

    def _take(self, timeout: float) -> list[Item]:
        try:
            items = [self.queue.get(timeout=timeout)]
        except queue.Empty:
            return []
        while len(items) < TAKE:
            try:
                items.append(self.queue.get_nowait())
            except queue.Empty:
                break
        return items

    def drain(self) -> int:
        """Refine everything queued and correct what it answered, in this thread (tests,
        the benchmark); returns the pairs refined."""
        done = 0
        while items := self._take(timeout=0):
            self.refine(items)
            done += len(items)
        self.correct()
        return done

    def refine(self, items: Sequence[Item]) -> None:
        """The full answer of each pair, from the parse cache or parsed now and stored."""
        wanted = {pending for _, _, pending in items}
        p = DeviceParse
        # SQLite: every transaction takes the database's write lock, so queue for it like
        # ingestion does rather than make a batch wait in SQLite's busy loop.
        with self.sessions() as session, storage.one_writer(session), session.begin():
            known = {
                row[0]: Device(*row[1:])
                for row in session.execute(
                    select(
                        p.key,
                        p.device_type,
                        p.os_family,
                        p.os_major,
                        p.browser_family,
                        p.browser_major,
                        p.brand,
                    ).where(p.key.in_(wanted), p.parser == matomo.PARSER)
                )
            }
        fresh: list[dict[str, object]] = []
        answers: list[tuple[str, Hints, Device]] = []
        for user_agent, hints, pending in items:
            device = known.get(pending)
            if device is None:
                began = time.perf_counter()
                try:
                    device = self.parse(user_agent, hints)
                    if not self.parsed:  # matomo's tables are loaded now: long-lived
                        self.parsed = heap.settle(collect=False) > 0
                except Exception as exc:  # the detector's bug; its message may quote the UA
                    log.warning("devices.parse_failed", error=type(exc).__name__)
                    device = devices.quick_answer(user_agent, hints)
                fresh.append(_row(pending, device, self.clock.now()))
                self.stop.wait((time.perf_counter() - began) * (1 - DUTY) / DUTY)
            answers.append((user_agent, hints, device))
        if fresh:
            self._store(fresh)
        for user_agent, hints, device in answers:
            devices.remember(user_agent, hints, device)
            self.waiting.pop((user_agent, hints), None)

    def _store(self, rows: list[dict[str, object]]) -> None:
        with self.sessions() as session, storage.one_writer(session), session.begin():
            dialect = sqlite if session.get_bind().dialect.name == "sqlite" else postgresql
            statement = dialect.insert(_PARSES)
            new = statement.excluded
            statement = statement.on_conflict_do_update(
                index_elements=["key"],
                set_={c: getattr(new, c) for c in rows[0] if c != "key"},
            )
            session.execute(statement, rows)

    def correct(self) -> int:
        """Give every device row still holding a quick answer its full one, where the parse
        cache has it (rows of any process, left by a restart or a dropped pair too)."""
        with self.sessions() as session, storage.one_writer(session), session.begin():
            found = session.execute(
                select(SubjectDevice, DeviceParse)
                .join(DeviceParse, SubjectDevice.fingerprint == PROVISIONAL + DeviceParse.key)
                .where(SubjectDevice.fingerprint.startswith(PROVISIONAL))
                .order_by(SubjectDevice.subject_id, SubjectDevice.id)
            ).all()
            accesses = []
            for quick_row, parsed in found:
                corrections.correct(session, quick_row, parsed)
                accesses.append(
                    audit.Access(
                        ACTOR,
                        "devices.refine",
                        quick_row.subject_id,
                        {DEVICE_CATEGORY},
                        PURPOSE,
                        "ok",
                    )
                )
            if accesses:
                audit.record_many(session, accesses, clock=self.clock)
            return len(found)


def _row(pending: str, device: Device, now: datetime) -> dict[str, object]:
    return {
        "key": pending, "device_type": str(device.device_type), "brand": device.brand,
        "os_family": device.os_family, "os_major": device.os_major,
        "browser_family": device.browser_family, "browser_major": device.browser_major,
        "parser": matomo.PARSER, "parsed_at": now,
    }  # fmt: skip


def start(sessions: sessionmaker[Session], index_key: bytes, clock: Clock) -> Refiner:
    """Install a refiner for this process and start its daemon thread."""
    refiner = Refiner(sessions, derive_key(index_key), clock)
    devices.install(refiner)
    threading.Thread(target=refiner.run, name="safehold-devices", daemon=True).start()
    return refiner
