"""Making a checkpoint and emitting it: the worker's job and ``safehold audit checkpoint``."""

from __future__ import annotations

from safehold.access import checkpoints
from safehold.db import reading_only, transaction
from safehold.logs import get_logger
from safehold.runtime import Runtime

log = get_logger(__name__)


def make(runtime: Runtime) -> checkpoints.Checkpoint:
    """Seal the heads into the next checkpoint, commit it, then emit it outside the database:
    one line appended to the file beside the keys, and one log line. (Emitted after the
    commit, so nothing outside ever names a checkpoint the database rolled back.)"""
    with transaction(runtime.sessions) as session:
        made = checkpoints.take(session, runtime.audit_keys(), clock=runtime.clock)
    checkpoints.append_to_file(runtime.settings.data_dir, made)
    log.info("audit_checkpoint", checkpoint=made.document())
    return made


def run(runtime: Runtime) -> int:
    """The worker's job: a checkpoint when none was made in the last ``INTERVAL`` (by any
    process). Returns 0 either way: the worker then waits ``POLL_SECONDS``."""
    with runtime.sessions() as session:
        reading_only(session)
        last = checkpoints.latest(session)
    if last is None or last.at <= runtime.clock.now() - checkpoints.INTERVAL:
        make(runtime)
    return 0
