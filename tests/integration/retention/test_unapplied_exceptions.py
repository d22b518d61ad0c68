"""An exception kept only for people with some data (invoice records, only for people with
payment information) keeps nothing of the others: after closure their name and address go
with the rest of the account data, while a paying customer's stay for the bookkeeping period."""

from __future__ import annotations

import uuid
from datetime import timedelta

from safehold.clock import FrozenClock
from safehold.retention import jobs
from safehold.runtime import Runtime
from tests.integration.comms.support import register
from tests.integration.promises.test_checks import _held, _violated
from tests.integration.requests.support import person
from tests.integration.retention.test_run import _close, _key_gone, _values


def test_invoice_records_stay_only_for_people_with_payment_information(
    runtime: Runtime, clock: FrozenClock
) -> None:
    exception = next(e for r in runtime.policy.retention for e in r.exceptions
                     if e.id == "invoice_records")  # fmt: skip
    assert exception.only_for_people_with == ("account.payment",)
    paying = person(runtime, "Ada")  # with a card
    never_billed: uuid.UUID = register(runtime, "Bo Example", "bo@example.com", opt_in=False)
    assert ("account.name", "invoice_records") in _values(runtime, never_billed)
    for sid in (paying, never_billed):
        _close(runtime, sid)

    clock.advance(timedelta(days=89))
    jobs.run(runtime)
    assert ("account.name", "invoice_records") in _values(runtime, never_billed)  # not yet

    clock.advance(timedelta(days=2))  # past the 90 days after closure
    jobs.run(runtime)
    assert ("account.name", "invoice_records") not in _values(runtime, never_billed)
    assert _key_gone(runtime, never_billed, "invoice_records")
    assert ("account.name", "invoice_records") in _values(runtime, paying)
    assert not _key_gone(runtime, paying, "invoice_records")
    _held(runtime, "retention.values_and_keys")


def test_invoice_records_of_a_never_billed_person_past_closure_are_reported(
    runtime: Runtime, clock: FrozenClock
) -> None:
    never_billed = register(runtime, "Bo Example", "bo@example.com", opt_in=False)
    _close(runtime, never_billed)
    clock.advance(timedelta(days=92))  # past 90 days after closure (and the day's grace)
    found = _violated(runtime, "retention.values_and_keys", str(never_billed))
    assert found.count == 2  # the contact details' class, and the invoice records' class
    jobs.run(runtime)
    _held(runtime, "retention.values_and_keys")
