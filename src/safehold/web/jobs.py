"""The worker's sign-in jobs: e-mailing the codes people asked for, and clearing away ended
sign-ins — sessions past their absolute end and codes past their expiry (a session that only
went idle is removed when next presented, or here once its absolute end passes)."""

from __future__ import annotations

from safehold.comms import jobs as comms_jobs
from safehold.db import transaction
from safehold.runtime import Runtime
from safehold.web import sessions, signin

PURGE_SECONDS = 3600.0
# How long an idle worker waits before looking for new sign-in attempts: a person is
# waiting for the e-mail, and the look is one indexed query.
SIGN_IN_SECONDS = 1.0


def send_codes(runtime: Runtime) -> int:
    """Handle the sign-in attempts waiting (look the address up, queue a code for an
    account), then deliver what was queued at once rather than at the outbox job's next
    round. Returns the attempts handled."""
    with transaction(runtime.sessions) as session:
        handled = signin.handle_attempts(session, signin.context(runtime))
    if handled.mailed:
        comms_jobs.run(runtime)
    return handled.attempts


def purge(runtime: Runtime) -> int:
    with transaction(runtime.sessions) as session:
        return sessions.purge_expired(session, now=runtime.clock.now())
