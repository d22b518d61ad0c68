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
    mail_copies(runtime, made)
    return made


def mail_copies(runtime: Runtime, made: checkpoints.Checkpoint) -> int:
    """E-mail the checkpoint to ``SAFEHOLD_AUDIT_CHECKPOINT_MAIL`` (each address its own
    message); how many went. A failed delivery is logged and loses nothing: the checkpoint
    is committed, in the file and in the log already."""
    recipients = runtime.settings.checkpoint_recipients
    if not recipients:
        return 0
    from safehold.comms.mail import MailError
    from safehold.staff.mail import sender  # the mailer, sent at once (as staff mail is)

    operator = runtime.policy.controller.name
    send = sender(runtime.settings, operator, runtime.clock.now)
    sent = 0
    for address in recipients:
        try:
            send(address, f"Audit checkpoint {made.number} of {operator}", mail_text(made))
        except (MailError, OSError) as exc:
            reason = exc.code if isinstance(exc, MailError) else type(exc).__name__  # no address
            log.error("audit_checkpoint_mail_failed", checkpoint=made.number, error=reason)
            continue
        sent += 1
    return sent


def mail_text(made: checkpoints.Checkpoint) -> str:
    return (
        f"Audit checkpoint {made.number}, sealed at {made.at.isoformat(timespec='seconds')}:\n\n"
        f"{made.line()}\n\n"
        "Keep this e-mail where the people who run the service cannot change it. To check the "
        "audit log against it, save the line above to a file and run:\n\n"
        "    safehold audit verify --expect @FILE\n\n"
        "It holds no personal data and no key: only where each audit chain ended, and a "
        "signature."
    )


def run(runtime: Runtime) -> int:
    """The worker's job: a checkpoint when none was made in the last ``INTERVAL`` (by any
    process). Returns 0 either way: the worker then waits ``POLL_SECONDS``."""
    with runtime.sessions() as session:
        reading_only(session)
        last = checkpoints.latest(session)
    if last is None or last.at <= runtime.clock.now() - checkpoints.INTERVAL:
        make(runtime)
    return 0
