"""A policy change is e-mailed only when the policy people accepted says changes are
announced by e-mail (`changes.notify`); the privacy center shows pending versions either way."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from safehold.access.rules import Actor
from safehold.comms import service as comms
from safehold.comms.models import Message
from safehold.db import transaction
from safehold.notices import service as notices
from safehold.notices.announce import announce
from safehold.policy import parse_policy
from safehold.runtime import Runtime
from tests.conftest import DEFAULT_POLICY

V1 = DEFAULT_POLICY.read_text()
WITHOUT_EMAIL = V1.replace("notify: [email, privacy_center]", "notify: [privacy_center]")
OPERATOR = Actor("staff", "privacy-officer")


@pytest.mark.parametrize(("in_force", "emailed"), [(V1, 1), (WITHOUT_EMAIL, 0)])
def test_the_change_is_emailed_only_when_the_policy_in_force_says_so(
    runtime: Runtime, in_force: str, emailed: int
) -> None:
    assert WITHOUT_EMAIL != V1
    with transaction(runtime.sessions) as session:
        notices.publish(
            session, source=in_force, source_name="v1", effective_at=None, requested_class=None,
            clock=runtime.clock, actor=OPERATOR,
        )  # fmt: skip
        runtime.book.load(session)
        shorter = in_force.replace("P30D\n    from: collected", "P20D\n    from: collected", 1)
        published = notices.publish(
            session, source=shorter,
            source_name="v2", effective_at=runtime.clock.now() + timedelta(days=1),
            requested_class=None, clock=runtime.clock, actor=OPERATOR,
        )  # fmt: skip
        ctx = comms.context(runtime)
        assert ctx.policy == parse_policy(in_force)
        sent = announce(session, ctx, published.version, actor=OPERATOR)
        assert (sent is not None) == bool(emailed)
        count = session.scalar(select(func.count()).select_from(Message))
    assert count == emailed
