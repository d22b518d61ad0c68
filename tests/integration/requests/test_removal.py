"""Issue 20, item 11: the phone number and the postal address can be removed, not only
replaced. A removal is a rectification request like the others (recorded by field name only)
and the recipients that received the removed detail are told (Art. 19)."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import select

from safehold.db import transaction
from safehold.notices.book import PolicyBook
from safehold.policy.loader import parse_policy
from safehold.requests import service
from safehold.requests.errors import RectificationInvalid
from safehold.runtime import Runtime
from safehold.sharing import service as sharing
from safehold.sharing.models import Propagation
from safehold.subjects import service as subjects
from safehold.subjects.models import Subject
from tests.conftest import DEFAULT_POLICY
from tests.integration.requests.support import STAFF, ctx, load, person, verified

PAY = "payment_processor"


def _held(runtime: Runtime, sid: uuid.UUID) -> dict[str, dict[str, str]]:
    sctx = subjects.Context(runtime.vault, runtime.policy, runtime.clock, runtime.book)
    with runtime.sessions() as session:
        return subjects.read(session, sctx, sid, purpose="service_provision", actor=STAFF).data


def test_the_phone_and_the_address_are_removed_by_a_rectification(runtime: Runtime) -> None:
    sid = person(runtime)
    assert {"account.phone", "account.address"} <= set(_held(runtime, sid))
    rid = verified(runtime, sid, "rectification")
    with transaction(runtime.sessions) as session:
        service.rectify(session, ctx(runtime), rid, actor=STAFF, values={},
                        remove=("phone", "address"))  # fmt: skip
    held = _held(runtime, sid)
    assert "account.phone" not in held
    assert "account.address" not in held
    assert held["account.name"] == {"full_name": "Ada Example"}  # the rest stays
    with runtime.sessions() as session:
        assert session.get(Subject, sid).phone_index is None  # type: ignore[union-attr]
    done = load(runtime, rid)
    assert done.status == "completed"
    assert done.progress["rectification"]["removed"] == ["address", "phone"]
    assert done.progress["rectification"]["categories"] == ["account.address", "account.phone"]
    assert "7946" not in json.dumps(done.progress)  # field names only, never values


def test_a_removal_tells_the_recipients_that_received_the_detail(runtime: Runtime) -> None:
    """A policy whose payment processor also receives the phone number (the default's does
    not: no recipient it notifies receives phone or address)."""
    text = DEFAULT_POLICY.read_text()
    wider = text.replace("categories: [account.payment, account.name, account.email]",
                         "categories: [account.payment, account.name, account.email, "
                         "account.phone]", 1)  # fmt: skip
    assert wider != text
    runtime.book = PolicyBook(parse_policy(wider))  # the file in force: nothing published
    sid = person(runtime)
    sctx = subjects.Context(runtime.vault, runtime.policy, runtime.clock, runtime.book)
    with transaction(runtime.sessions) as session:
        sharing.disclose(
            session, sctx, actor=STAFF, recipient=PAY, purpose="service_provision",
            subject_ids=[sid], categories=["account.phone"], reference=None,
        )  # fmt: skip
    rid = verified(runtime, sid, "rectification")
    with transaction(runtime.sessions) as session:
        service.rectify(session, ctx(runtime), rid, actor=STAFF, values={}, remove=("phone",))
    with runtime.sessions() as session:
        told = session.scalars(select(Propagation).where(Propagation.subject_id == sid)).all()
    assert [(p.recipient_id, p.event, p.categories) for p in told] == [
        (PAY, "rectification", ["account.phone"])
    ]


@pytest.mark.parametrize(
    ("values", "remove"),
    [({}, ("name",)), ({}, ("email",)), ({"phone": "+44 20 7946 0000"}, ("phone",)),
     ({"street": "2 Example Road", "postal_code": "EX1 1AA", "city": "Exampleton",
       "country": "GB"}, ("address",))],
)  # fmt: skip
def test_only_optional_details_are_removed_and_never_also_corrected(
    runtime: Runtime, values: dict[str, str], remove: tuple[str, ...]
) -> None:
    sid = person(runtime)
    rid = verified(runtime, sid, "rectification")
    with transaction(runtime.sessions) as session, pytest.raises(RectificationInvalid):
        service.rectify(session, ctx(runtime), rid, actor=STAFF, values=values, remove=remove)
    assert load(runtime, rid).status == "verified"  # nothing moved
    assert {"account.phone", "account.address"} <= set(_held(runtime, sid))
