"""Checkpoints: every chain's head sealed with the audit key, kept in the database and
outside it. Truncation after a checkpoint, a wiped log, a deleted head and an edited
checkpoint file are reported, naming the first broken place (issue 18, review F2 C6/C9/C10)."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import delete, select, update

from safehold.access import audit, chain, checkpoint_jobs, checkpoints
from safehold.access.models import AuditCheckpoint, AuditEntry, AuditHead
from safehold.clock import FrozenClock
from safehold.config import Settings
from safehold.db import transaction
from safehold.runtime import Runtime
from tests.audit_guards import guards_off
from tests.integration.comms.smtp import SmtpServer
from tests.integration.comms.support import comms_settings
from tests.integration.test_audit_log import BASE, chains_let_go, write  # noqa: F401 (fixture)


def _file_copies(runtime: Runtime) -> list[tuple[str, checkpoints.Checkpoint | None]]:
    lines = checkpoints.read_file(runtime.settings.data_dir)
    return [(f"line {n}", made) for n, made in lines]


def _verify(runtime: Runtime) -> chain.Verification:
    with runtime.sessions() as session:
        return audit.verify(session, outside=_file_copies(runtime))


def _history(runtime: Runtime, clock: FrozenClock) -> checkpoints.Checkpoint:
    """Entries on chains BASE and BASE + 6, a checkpoint, then more on BASE + 6."""
    with transaction(runtime.sessions) as session:
        write(session, clock, 3, chain_id=BASE)
    with transaction(runtime.sessions) as session:
        write(session, clock, 4, chain_id=BASE + 6)
    made = checkpoint_jobs.make(runtime)
    with transaction(runtime.sessions) as session:
        write(session, clock, 2, chain_id=BASE + 6)
    return made


def _cut(runtime: Runtime, chain_id: int, keep: int) -> None:
    """The review's C6 on one chain: cut its tail after ``keep`` and move its head back."""
    with transaction(runtime.sessions) as session:
        guards_off(session)
        session.execute(
            delete(AuditEntry).where(AuditEntry.chain == chain_id, AuditEntry.position > keep)
        )
        last = session.scalars(
            select(AuditEntry).where(AuditEntry.chain == chain_id, AuditEntry.position == keep)
        ).one()
        session.execute(
            update(AuditHead)
            .where(AuditHead.id == chain_id)
            .values(last_seq=keep, last_hash=last.hash)
        )


def test_a_checkpoint_seals_every_head_and_is_emitted_outside(
    runtime: Runtime, clock: FrozenClock
) -> None:
    made = _history(runtime, clock)
    assert made.number == 1
    assert {c for c, _, _ in made.heads} >= {BASE, BASE + 6}  # every chain's head, used or not
    assert next((c, p) for c, p, _ in made.heads if c == BASE + 6) == (BASE + 6, 4)
    assert checkpoints.authentic(runtime.audit_key(), made)
    assert checkpoints.read_file(runtime.settings.data_dir) == [(1, made)]
    path = runtime.settings.data_dir / checkpoints.FILE
    assert path.stat().st_mode & 0o077 == 0  # beside the keys, private like them
    second = checkpoint_jobs.make(runtime)
    assert (second.number, second.prev_mac) == (2, made.mac)
    result = _verify(runtime)
    assert result.ok, result.broken
    assert result.checked == 9


def test_truncation_after_a_checkpoint_is_named(runtime: Runtime, clock: FrozenClock) -> None:
    _history(runtime, clock)
    _cut(runtime, BASE + 6, keep=4)  # only what came after the checkpoint: nothing sealed is lost
    assert _verify(runtime).ok
    _cut(runtime, BASE + 6, keep=2)  # two entries the checkpoint sealed
    broken = _verify(runtime).broken
    assert broken is not None
    assert (broken.chain, broken.seq) == (BASE + 6, 4)
    assert broken.reason == "entries cut off: checkpoint 1 sealed this position"


def test_a_wiped_log_is_named_by_the_checkpoints(runtime: Runtime, clock: FrozenClock) -> None:
    """The review's C9: every entry deleted, the heads reset to the start."""
    _history(runtime, clock)
    with transaction(runtime.sessions) as session:
        guards_off(session)
        session.execute(delete(AuditEntry))
        session.execute(update(AuditHead).values(last_seq=0, last_hash=chain.GENESIS))
    broken = _verify(runtime).broken
    assert broken is not None
    assert (broken.chain, broken.seq, broken.reason) == (
        BASE, 3, "entries cut off: checkpoint 1 sealed this position"
    )  # fmt: skip
    with transaction(runtime.sessions) as session:  # the checkpoints wiped too: the file tells
        session.execute(delete(AuditCheckpoint))
    broken = _verify(runtime).broken
    assert broken is not None
    assert (broken.where, broken.reason) == (
        "line 1", "checkpoint 1 is missing from the database or differs"
    )  # fmt: skip


def test_a_deleted_head_is_named(runtime: Runtime, clock: FrozenClock) -> None:
    """The review's C10: the head row deleted (alone, then with a truncation)."""
    _history(runtime, clock)
    with transaction(runtime.sessions) as session:
        session.execute(delete(AuditHead).where(AuditHead.id == BASE + 6))
    assert _verify(runtime).broken == chain.Break(1, "chain head missing", BASE + 6)


def test_an_edited_checkpoint_file_is_named_by_its_line(
    runtime: Runtime, clock: FrozenClock
) -> None:
    _history(runtime, clock)
    checkpoint_jobs.make(runtime)
    path = runtime.settings.data_dir / checkpoints.FILE
    lines = path.read_text().splitlines()
    doc = json.loads(lines[1])
    doc["heads"] = [[c, 0 if c == BASE + 6 else p, h] for c, p, h in doc["heads"]]  # seal less
    path.write_text("\n".join([lines[0], json.dumps(doc), "not a checkpoint"]) + "\n")
    broken = _verify(runtime).broken
    assert broken is not None
    assert (broken.where, broken.reason) == ("line 2", "checkpoint 2: signature invalid")
    path.write_text(lines[0] + "\nnot a checkpoint\n")
    broken = _verify(runtime).broken
    assert broken is not None
    assert (broken.where, broken.reason) == ("line 2", "not a checkpoint")


def test_a_checkpoint_edited_or_dropped_in_the_database_is_named(
    runtime: Runtime, clock: FrozenClock
) -> None:
    _history(runtime, clock)
    checkpoint_jobs.make(runtime)
    checkpoint_jobs.make(runtime)
    with transaction(runtime.sessions) as session:
        guards_off(session)
        session.execute(delete(AuditCheckpoint).where(AuditCheckpoint.number == 2))
    with runtime.sessions() as session:
        assert audit.verify(session).broken == chain.Break(
            0, "checkpoint missing from the database", -1, "checkpoint 2"
        )
    with transaction(runtime.sessions) as session:
        session.execute(update(AuditCheckpoint).where(AuditCheckpoint.number == 3).values(number=2))
    with runtime.sessions() as session:  # the gap closed by renumbering 3: its MAC says 3
        assert audit.verify(session).broken == chain.Break(
            0, "checkpoint signature invalid", -1, "checkpoint 2"
        )


def test_a_checkpoint_kept_elsewhere_catches_what_the_database_forgot(
    runtime: Runtime, clock: FrozenClock
) -> None:
    """``--expect``: a copy kept by a third party, the database's checkpoints and the file
    both wiped, and the tail cut."""
    kept = _history(runtime, clock)
    (runtime.settings.data_dir / checkpoints.FILE).unlink()
    with transaction(runtime.sessions) as session:
        guards_off(session)
        session.execute(delete(AuditCheckpoint))
    _cut(runtime, BASE + 6, keep=1)
    with runtime.sessions() as session:
        assert audit.verify(session).ok  # without a copy from outside, nothing to compare
        copy = checkpoints.parse(kept.line())
        broken = audit.verify(session, outside=[("expected", copy)]).broken
    assert broken is not None
    assert broken.reason == "checkpoint 1 is missing from the database or differs"


def test_the_worker_makes_one_checkpoint_per_interval(runtime: Runtime, clock: FrozenClock) -> None:
    with transaction(runtime.sessions) as session:
        write(session, clock, 1)
    assert checkpoint_jobs.run(runtime) == 0
    assert checkpoint_jobs.run(runtime) == 0
    clock.advance(checkpoints.INTERVAL - timedelta(seconds=1))
    checkpoint_jobs.run(runtime)
    with runtime.sessions() as session:
        assert checkpoints.count(session) == 1
    clock.advance(timedelta(seconds=1))
    checkpoint_jobs.run(runtime)
    with runtime.sessions() as session:
        assert checkpoints.count(session) == 2


def test_erasing_a_person_never_touches_the_chains(runtime: Runtime, clock: FrozenClock) -> None:
    """Entries hold no personal values, only the person's id: nothing to erase in them."""
    with transaction(runtime.sessions) as session:
        recorded = write(session, clock, 2, chain_id=BASE + 3)
    assert isinstance(recorded[0].subject_id, uuid.UUID)
    assert _verify(runtime).ok


def test_each_checkpoint_is_mailed_to_the_configured_addresses_and_verifies_as_kept(
    runtime: Runtime, clock: FrozenClock, smtp: SmtpServer, tmp_path: Path
) -> None:
    """SAFEHOLD_AUDIT_CHECKPOINT_MAIL: one message per address, whose line is the checkpoint;
    a failed delivery loses nothing (the checkpoint is committed and in the file)."""
    runtime.settings = comms_settings(
        tmp_path, smtp, audit_checkpoint_mail="officer@example.com, deputy@example.com"
    )
    made = _history(runtime, clock)  # checkpoint 1, made by checkpoint_jobs.make
    smtp.inbox.wait_for(2)
    for address in ("officer@example.com", "deputy@example.com"):
        (message,) = smtp.inbox.to(address)
        assert message["Subject"].startswith(f"Audit checkpoint {made.number} of ")
        text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        line = next(x for x in text.splitlines() if x.startswith("{"))
        assert checkpoints.parse(line) == made
    with runtime.sessions() as session:
        kept = [("the mailed copy", checkpoints.parse(line))]
        assert audit.verify(session, outside=kept).ok
    smtp.inbox.refuse["officer@example.com"] = "550 5.1.1 no such mailbox"
    assert checkpoint_jobs.mail_copies(runtime, made) == 1  # the other still went
    assert checkpoints.read_file(runtime.settings.data_dir)[-1] == (1, made)


def test_checkpoint_mail_setting_refuses_what_is_not_an_address(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="e-mail addresses separated by commas"):
        Settings(data_dir=tmp_path, audit_checkpoint_mail="officer@example.com; nobody")
    assert Settings(data_dir=tmp_path).checkpoint_recipients == []
