"""The checks of how data was used: a read outside its purpose's categories, a stored field
the policy does not declare, and a use after closure for a purpose that ends with the
account are each reported; the normal flows leave them held."""

from __future__ import annotations

from datetime import timedelta

import pytest

from safehold.access import audit
from safehold.clock import FrozenClock
from safehold.db import transaction
from safehold.runtime import Runtime
from safehold.subjects import service as subjects
from safehold.subjects.errors import PurposeRefused
from safehold.subjects.models import PersonalValue
from tests.integration.promises.test_checks import _held, _violated
from tests.integration.requests.support import STAFF, person


def _context(runtime: Runtime) -> subjects.Context:
    return subjects.Context(runtime.vault, runtime.policy, runtime.clock, runtime.book)


def test_a_read_outside_its_purposes_categories_is_reported(runtime: Runtime) -> None:
    sid = person(runtime)
    marketing = runtime.policy.purpose("communication.marketing")
    assert "account.payment" not in marketing.categories
    with transaction(runtime.sessions) as session:  # the normal flow: the card is withheld
        subjects.read(session, _context(runtime), sid, purpose=marketing.id, actor=STAFF)
    _held(runtime, "purposes.uses_within_categories")
    with transaction(runtime.sessions) as session:  # planted: a read that returned the card
        recorded = audit.record(
            session, actor=STAFF, action="subject.read", subject_id=sid,
            categories=["account.email", "account.payment"], purpose=marketing.id,
            outcome="ok", clock=runtime.clock,
        )  # fmt: skip
    _violated(runtime, "purposes.uses_within_categories", f"audit entry {recorded.seq}")


def test_a_stored_field_the_policy_does_not_declare_is_reported(runtime: Runtime) -> None:
    sid = person(runtime)
    _held(runtime, "categories.only_declared_fields")
    with transaction(runtime.sessions) as session:
        session.add(PersonalValue(
            subject_id=sid, category="account.email", field="nickname",
            retention_class="account_contact", ciphertext=b"\x00" * 40,
            updated_at=runtime.clock.now(), updated_by="test",
        ))  # fmt: skip
    _violated(runtime, "categories.only_declared_fields", f"account.email.nickname of {sid}")


def test_a_use_after_closure_for_a_purpose_that_ends_with_it_is_reported(
    runtime: Runtime, clock: FrozenClock
) -> None:
    sid = person(runtime)
    with transaction(runtime.sessions) as session:
        subjects.close(session, _context(runtime), sid, actor=STAFF)
    clock.advance(timedelta(minutes=1))
    with transaction(runtime.sessions) as session, pytest.raises(PurposeRefused):
        subjects.read(session, _context(runtime), sid, purpose="service_provision", actor=STAFF)
    with transaction(runtime.sessions) as session:  # the law's purpose goes on after closure
        subjects.read(session, _context(runtime), sid, purpose="legal_obligation", actor=STAFF)
    _held(runtime, "closure.uses_end_with_the_account")
    with transaction(runtime.sessions) as session:  # planted: a read that went around it
        recorded = audit.record(
            session, actor=STAFF, action="subject.read", subject_id=sid,
            categories=["account.email"], purpose="service_provision", outcome="ok",
            clock=clock,
        )  # fmt: skip
    _violated(runtime, "closure.uses_end_with_the_account", f"audit entry {recorded.seq}")
