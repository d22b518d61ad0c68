"""`requests.extension_told` (decision 0029): an extension made after the first deadline, or
with no e-mail to the person queued for it by then, is reported; extending through the
service leaves the promise held."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import update

from safehold.comms.models import OutboxItem
from safehold.db import transaction
from safehold.requests import extension
from safehold.requests.models import DataRequest
from safehold.runtime import Runtime
from tests.integration.promises.test_checks import _held, _violated
from tests.integration.requests.support import STAFF, ctx, load, open_request, person

CHECK = "requests.extension_told"


def _extended(runtime: Runtime) -> DataRequest:
    rid = open_request(runtime, person(runtime), "access")
    with transaction(runtime.sessions) as session:
        extension.extend(session, ctx(runtime), rid, actor=STAFF, reason="complexity",
                         extension="P1M")  # fmt: skip
    return load(runtime, rid)


def test_an_extension_through_the_service_holds(runtime: Runtime) -> None:
    _held(runtime, CHECK)  # nothing extended yet
    _extended(runtime)
    _held(runtime, CHECK)


def _plant(runtime: Runtime, rid: uuid.UUID, **values: object) -> None:
    with transaction(runtime.sessions) as session:
        session.execute(update(DataRequest).where(DataRequest.id == rid).values(**values))


@pytest.mark.parametrize("plant", ["made_late", "no_notice", "notice_of_another", "told_late"])
def test_a_late_or_untold_extension_is_reported(runtime: Runtime, plant: str) -> None:
    request = _extended(runtime)
    assert request.first_deadline_at is not None
    late = request.first_deadline_at + timedelta(seconds=1)
    if plant == "made_late":
        _plant(runtime, request.id, extended_at=late)
    elif plant == "no_notice":
        _plant(runtime, request.id, extension_notice_item=None)
    else:  # the row named is someone else's e-mail, or was queued after the first deadline
        changes = {"subject_id": person(runtime, "Bea")} if plant == "notice_of_another" else {
            "created_at": late}  # fmt: skip
        notice = OutboxItem.id == request.extension_notice_item
        with transaction(runtime.sessions) as session:
            session.execute(update(OutboxItem).where(notice).values(**changes))
    _violated(runtime, CHECK, str(request.id))


def test_an_extension_written_past_the_service_is_reported(runtime: Runtime) -> None:
    """Extended straight in the table: no first deadline, no e-mail (as before decision 0029)."""
    rid = open_request(runtime, person(runtime), "access")
    request = load(runtime, rid)
    _plant(runtime, rid, extended_at=request.received_at, extension_reason="complexity",
           deadline_at=request.deadline_at + timedelta(days=30))  # fmt: skip
    _violated(runtime, CHECK, str(rid))
