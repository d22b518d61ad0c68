"""Promises about how things are done, read off the records: addresses kept only shortened
(unless the policy keeps them whole), no request answered unverified, every recipient told
of an erasure, and every material change announced its notice period ahead."""

from __future__ import annotations

import itertools
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from safehold.events import rules as event_rules
from safehold.events import storage
from safehold.events.ips import IpColumns
from safehold.events.models import Login
from safehold.notices import rules as notice_rules
from safehold.notices.models import PolicyVersion
from safehold.policy.document import IpMode
from safehold.policy.durations import add_duration
from safehold.promises.rules import MAX_EXAMPLES, Check, Context, Finding
from safehold.requests import rules as request_rules
from safehold.requests.models import DataRequest
from safehold.sharing import rules as sharing_rules
from safehold.sharing.models import Disclosure, DisclosureSubject, Propagation, ServiceDelivery
from safehold.subjects.models import Subject

CHUNK = 500


def _count(ctx: Context, found: Finding, query: Any) -> None:
    count = ctx.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    if count:
        found.add(ctx.session.scalars(query.limit(MAX_EXAMPLES)), count)


def addresses_not_shortened(ctx: Context) -> Finding:
    """``truncate``: every stored address is a network ("203.0.113.0/24"); ``drop``: none
    is stored. (``full`` keeps whole ones for its purpose; their period is a retention check.)"""
    found = Finding()
    mode = ctx.policy.events.ip.mode
    if mode is IpMode.FULL:
        return found

    def kept(columns: IpColumns) -> Any:
        # Sealed addresses carry their shape in the plain ``ip_whole`` marker (events.ips).
        return columns.stored() if mode is IpMode.DROP else columns.whole()

    for month in storage.months(ctx.session):
        table = storage.month_table(event_rules.partition_name(month))
        _count(ctx, found, select(table.c.event_id).where(kept(IpColumns.of(table))))
    _count(ctx, found, select(Login.id).where(kept(IpColumns.logins())))
    return found


def answered_unverified(ctx: Context) -> Finding:
    """A request carried out (in progress or answered) that was never verified."""
    acted = [request_rules.Status.IN_PROGRESS, request_rules.Status.COMPLETED,
             request_rules.Status.PARTIALLY_COMPLETED]  # fmt: skip
    found = Finding()
    query = select(DataRequest.id).where(
        DataRequest.status.in_([str(s) for s in acted]), DataRequest.verified_at.is_(None)
    )
    _count(ctx, found, query.order_by(DataRequest.id))
    return found


def erasure_not_passed_on(ctx: Context) -> Finding:
    """For each erased person: every recipient that received their data before the erasure
    (a disclosure, or an in-service delivery such as the e-mail provider's) has an erasure
    notice — except one the policy names with ``notify_on_erasure: false`` (an authority);
    a recipient no longer in the policy is still owed one (``sharing.rules.notices_for``)."""
    found = Finding()
    exempt = {r.id for r in ctx.policy.recipients if not r.notify_on_erasure}
    erased_at: dict[uuid.UUID, datetime] = {
        sid: at
        for sid, at in ctx.session.execute(
            select(Subject.id, Subject.erased_at).where(Subject.status == "erased")
        )
        if at is not None
    }
    ids = sorted(erased_at)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        received: set[tuple[uuid.UUID, str]] = set()
        for sid, recipient, at in ctx.session.execute(
            select(DisclosureSubject.subject_id, Disclosure.recipient_id, Disclosure.at)
            .join(Disclosure, Disclosure.id == DisclosureSubject.disclosure_id)
            .where(DisclosureSubject.subject_id.in_(chunk),
                   DisclosureSubject.outcome == "disclosed")
        ):  # fmt: skip
            if at <= erased_at[sid]:
                received.add((sid, recipient))
        for sid, recipient, first in ctx.session.execute(
            select(ServiceDelivery.subject_id, ServiceDelivery.recipient_id,
                   ServiceDelivery.first_at).where(ServiceDelivery.subject_id.in_(chunk))
        ):  # fmt: skip
            if first <= erased_at[sid]:
                received.add((sid, recipient))
        told = {
            (sid, recipient)
            for sid, recipient in ctx.session.execute(
                select(Propagation.subject_id, Propagation.recipient_id).where(
                    Propagation.subject_id.in_(chunk),
                    Propagation.event == sharing_rules.Event.ERASURE.value,
                )
            )
        }
        for sid, recipient in sorted(received - told, key=str):
            if recipient not in exempt:
                found.add([f"{recipient} of {sid}"])
    return found


def notice_period_kept(ctx: Context) -> Finding:
    """Each material version took effect no sooner than the notice period of the version in
    force when it was published (the promise people had been given)."""
    found = Finding()
    rows = list(ctx.session.scalars(select(PolicyVersion).order_by(PolicyVersion.seq)))
    for before, version in itertools.pairwise(rows):
        if version.change_class != notice_rules.MATERIAL:
            continue
        promised = ctx.book.version(before.seq)
        period = (promised.policy if promised else ctx.policy).changes.notice_period
        if version.effective_at < add_duration(version.published_at, period):
            found.add([f"v{version.seq}"])
    return found


CHECKS = (
    Check("minimisation.ip_shortened",
          "IP addresses are kept only shortened to their network (or not at all), unless the "
          "policy keeps them whole for a declared purpose.", addresses_not_shortened),
    Check("requests.verified_before_answer",
          "Before acting on a request we confirm it is yours.", answered_unverified),
    Check("erasure.recipients_told",
          "When you ask us to delete your information, we ask those who received it to "
          "delete it too.", erasure_not_passed_on),
    Check("policy.notice_period",
          "Material changes are announced at least the notice period before they take effect.",
          notice_period_kept),
)  # fmt: skip
