"""The worker's clean-up of ended sign-ins: sessions past their absolute end and codes past
their expiry are deleted (a session that only went idle is removed when next presented, or
here once its absolute end passes)."""

from __future__ import annotations

from safehold.db import transaction
from safehold.runtime import Runtime
from safehold.web import sessions

PURGE_SECONDS = 3600.0


def purge(runtime: Runtime) -> int:
    with transaction(runtime.sessions) as session:
        return sessions.purge_expired(session, now=runtime.clock.now())
