"""The outbox job: claim due rows, render each recipient's e-mail from the vault, hand it to
the SMTP server, record the outcome. Run by ``safehold worker`` (any number of them).

A round: **claim** a batch (:func:`outbox.claim`), **prepare** it in one transaction, then
**send** it in small groups, one transaction each (:mod:`safehold.comms.dispatch`). A worker
that dies leaves its rows ``sending``; when their lease ends another worker claims them and
sends them again — at least once, with the same Message-ID.
"""

from __future__ import annotations

import os
import socket
import time

from sqlalchemy.orm import Session, sessionmaker

from safehold.comms import dispatch, mailers, outbox, service
from safehold.comms.mail import Mailer, MailError
from safehold.comms.outbox import Report
from safehold.db import checkpoint_wal, transaction
from safehold.logs import get_logger
from safehold.runtime import Runtime

BATCH_SIZE = 50  # rows per claim and per prepare transaction
# E-mails per send transaction. A send transaction holds its rows' locks (on SQLite, the
# database's write lock) through its SMTP exchanges: an opt-out arriving meanwhile waits for
# it, and a crash sends its e-mails again. So its size follows the pace the server shows:
# the first holds SEND_GROUP, each next one what the last one's pace fits in SEND_WINDOW
# seconds (well inside SQLite's 5 s busy timeout), never more than MAX_SEND_GROUP (at most
# this many sent again after a crash) and never fewer than one.
SEND_GROUP = 10
MAX_SEND_GROUP = 50
SEND_WINDOW = 0.25
POLL_SECONDS = 2.0  # how long an idle worker waits before looking again
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"

log = get_logger(__name__)


def deliver(
    sessions: sessionmaker[Session], ctx: service.Context, mailer: Mailer, *,
    worker: str = WORKER_ID, batch_size: int = BATCH_SIZE, group: int = SEND_GROUP,
    max_group: int = MAX_SEND_GROUP, window: float = SEND_WINDOW,
) -> Report:  # fmt: skip
    """One round: claim, prepare, send. Returns what happened (counts only). ``group`` is
    the first send transaction's size; the next ones follow :func:`next_group`."""
    report = Report()
    with transaction(sessions) as session:
        token, ids = outbox.claim(
            session, now=ctx.clock.now(), worker=worker, batch_size=batch_size
        )
    report.claimed = len(ids)
    if not ids:
        return report
    try:
        mailer.connect()
    except MailError as error:  # nothing is read or rendered for a server that is not there
        with transaction(sessions) as session:
            outbox.defer(session, ids, token, error, ctx.clock.now(), report)
        log.warning("smtp_unavailable", reason=error.code, deferred=len(ids))
        return _after(sessions, report)
    with transaction(sessions) as session:
        prepared = dispatch.prepare(session, ctx, ids, token, worker=worker, report=report)
    start = 0
    while start < len(prepared):
        rest = prepared[start:]
        try:
            mailer.connect()  # outside the transaction: a dead server holds no lock
        except MailError as error:
            with transaction(sessions) as session:
                outbox.defer(
                    session, [p.item_id for p in rest], token, error, ctx.clock.now(), report
                )
            log.warning("smtp_unavailable", reason=error.code, deferred=len(rest))
            break
        chunk = rest[:group]
        began = time.monotonic()  # a duration, not a business time: not the injected clock
        with transaction(sessions) as session:
            dispatch.send_group(session, ctx, mailer, chunk, token, report)
        start += len(chunk)
        group = next_group(len(chunk), time.monotonic() - began, window, max_group)
    return _after(sessions, report)


def _after(sessions: sessionmaker[Session], report: Report) -> Report:
    """A round that destroyed rows' own data keys (an erased person's completion e-mail,
    settled) checkpoints SQLite's WAL, as the erasure does: no old page image of the key or
    the sealed address stays in the log."""
    if report.keys_destroyed:
        checkpoint_wal(sessions)
    return report


def next_group(sent: int, seconds: float, window: float, most: int) -> int:
    """How many e-mails the next send transaction holds: as many as the last one's pace
    (``sent`` in ``seconds``, locks held throughout) fits in ``window`` seconds, 1 to ``most``."""
    if sent <= 0 or seconds <= 0:
        return max(1, most)
    return max(1, min(most, int(window * sent / seconds)))


def run(runtime: Runtime) -> int:
    """The worker's outbox job: one round against the configured SMTP server."""
    runtime.book.refresh_if_stale(runtime.sessions)
    mailer = mailers.mailer_for(runtime.settings)
    try:
        report = deliver(runtime.sessions, service.context(runtime), mailer)
    finally:
        mailer.close()
    if report.claimed:
        log.info(
            "outbox_round",
            claimed=report.claimed, sent=report.sent, retrying=report.retrying,
            failed=report.failed, skipped=report.skipped, suppressed=report.suppressed,
            cancelled=report.cancelled, errors=report.errors,
        )  # fmt: skip
    return report.claimed
