"""After an erasure, only what the person's certificate lists as kept may remain: every other
personal value, data key, card, event, sign-in, device, marketing choice, policy acceptance
and privacy-center session of theirs is a violation.

The address kept for the completion e-mail (decision 0028) is accepted exactly as the
certificate states it: its own data key, only while that e-mail's outbox row is still
pending and only until the date given; any other sealed value on an erased person's outbox
rows, or that key once the row is settled or the date is past, is a violation."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select

from safehold.comms import rules as comms_rules
from safehold.comms.models import MarketingChoice, OutboxItem
from safehold.events import rules as event_rules
from safehold.events import storage
from safehold.events.models import Login, SubjectDevice
from safehold.events.service import DEVICE_CATEGORY
from safehold.notices.models import Acceptance
from safehold.promises.rules import Check, Context, Finding
from safehold.requests.models import DataRequest
from safehold.subjects.models import PaymentMethod, PersonalValue, Subject
from safehold.subjects.rules import PAYMENT
from safehold.vault.models import DataKey
from safehold.web.models import WebSession


@dataclass
class Kept:
    """What one person's certificate says was kept: (category, class) pairs, and the
    completion e-mail's key (its class -> the outbox row and the date it ends)."""

    pairs: set[tuple[str, str]] = field(default_factory=set)
    for_mail: dict[str, tuple[uuid.UUID, datetime]] = field(default_factory=dict)

    @property
    def categories(self) -> set[str]:
        return {c for c, _ in self.pairs}

    @property
    def classes(self) -> set[str]:
        return {k for _, k in self.pairs}


def certificates(ctx: Context) -> dict[uuid.UUID, Kept]:
    """Erased people and what their certificates kept (a person erased without a finished
    certificate keeps nothing: the request's deadline check sees the unfinished erasure)."""
    kept: dict[uuid.UUID, Kept] = {
        sid: Kept()
        for sid in ctx.session.scalars(
            select(Subject.id).where(Subject.status == "erased", Subject.erased_at.isnot(None))
        )
    }
    rows = ctx.session.execute(
        select(DataRequest.subject_id, DataRequest.certificate).where(
            DataRequest.kind == "erasure", DataRequest.certificate.isnot(None)
        )
    )
    for sid, certificate in rows:
        if sid in kept:
            entries = certificate.get("kept", [])
            kept[sid].pairs |= _pairs(e for e in entries if e.get("kind") != MAIL_KIND)
            kept[sid].for_mail |= {
                str(c): (uuid.UUID(str(e["ref"])), datetime.fromisoformat(str(e["until"])))
                for e in entries
                if e.get("kind") == MAIL_KIND
                for c in e.get("classes", [])
            }
    return kept


MAIL_KIND = "completion_mail"


def _pairs(kept: Iterable[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(str(k["category"]), str(c)) for k in kept for c in k.get("classes", [])}


def _mail_rows(ctx: Context, chunk: list[uuid.UUID]) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """Erased people's outbox rows still pending, and the people with a sealed value on any
    row other than those (a value that should have gone at erasure or at settlement)."""
    pending: set[uuid.UUID] = set()
    sealed: set[tuple[uuid.UUID, uuid.UUID]] = set()
    for item_id, sid, status in ctx.session.execute(
        select(OutboxItem.id, OutboxItem.subject_id, OutboxItem.status).where(
            OutboxItem.subject_id.in_(chunk),
            or_(OutboxItem.sealed_recipient.isnot(None), OutboxItem.sealed_secret.isnot(None)),
        )
    ):
        sealed.add((item_id, sid))
        if status in comms_rules.PENDING:
            pending.add(item_id)
    return pending, {sid for item_id, sid in sealed if item_id not in pending}


def _mail_key_ok(kept: Kept, klass: str, pending: set[uuid.UUID], now: datetime) -> bool:
    row = kept.for_mail.get(klass)
    return row is not None and row[0] in pending and now < row[1]


def _in_chunks(ids: list[uuid.UUID], size: int = 500) -> Iterable[list[uuid.UUID]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def beyond_certificate(ctx: Context) -> Finding:
    found = Finding()
    people = certificates(ctx)
    ids = sorted(people)
    token_class = ctx.policy.retention_class(PAYMENT, "processor_token")
    record_class = ctx.policy.retention_class(PAYMENT, "last4")
    login_category = ctx.policy.events.category_of(ctx.policy.events.login_event) or "usage.login"
    bad: set[uuid.UUID] = set()
    session = ctx.session
    for chunk in _in_chunks(ids):
        for sid, category, klass in session.execute(
            select(PersonalValue.subject_id, PersonalValue.category, PersonalValue.retention_class)
            .where(PersonalValue.subject_id.in_(chunk))
        ):  # fmt: skip
            if (category, klass) not in people[sid].pairs:
                bad.add(sid)
        pending, sealed_beyond = _mail_rows(ctx, chunk)
        bad |= sealed_beyond
        for sid, klass in session.execute(
            select(DataKey.subject_id, DataKey.retention_class).where(DataKey.subject_id.in_(chunk))
        ):
            if klass not in people[sid].classes and not _mail_key_ok(
                people[sid], klass, pending, ctx.now
            ):
                bad.add(sid)
        for sid, token in session.execute(
            select(PaymentMethod.subject_id, PaymentMethod.token).where(
                PaymentMethod.subject_id.in_(chunk)
            )
        ):
            pairs = people[sid].pairs
            if (PAYMENT, record_class) not in pairs or (
                token != b"" and (PAYMENT, token_class) not in pairs
            ):
                bad.add(sid)
        for model, category in ((Login, login_category), (SubjectDevice, DEVICE_CATEGORY)):
            for (sid,) in session.execute(
                select(model.subject_id).where(model.subject_id.in_(chunk)).distinct()
            ):
                if category not in people[sid].categories:
                    bad.add(sid)
        for record in (MarketingChoice, Acceptance, WebSession):
            bad |= {
                sid
                for sid in session.scalars(
                    select(record.subject_id).where(record.subject_id.in_(chunk))
                )
                if sid is not None
            }
        for month in storage.months(session):
            table = storage.month_table(event_rules.partition_name(month))
            for sid, category, _n in session.execute(
                select(table.c.subject_id, table.c.category, func.count())
                .where(table.c.subject_id.in_(chunk))
                .group_by(table.c.subject_id, table.c.category)
            ):
                if category not in people[sid].categories:
                    bad.add(sid)
    found.add(sorted(bad, key=str))
    return found


CHECKS = (
    Check("erasure.only_what_the_certificate_keeps",
          "After an erasure nothing of the person remains but what their certificate lists "
          "as kept, with its reason.", beyond_certificate),
)  # fmt: skip
