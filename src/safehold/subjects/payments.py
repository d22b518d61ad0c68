"""Payment methods: only what the processor hands back — its token, the card brand, the last
four digits and the expiry. A card number never gets this far: request bodies carrying one
are refused before any handler runs (:mod:`safehold.carddata`).

A card whose expiry month has passed is refused. Removing a card deletes its processor token
at once (it can no longer be charged); the record of brand, last 4 digits and expiry stays,
marked removed, until its retention class ends, as every other card record (decision 0031-api).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from safehold.access.rules import Actor
from safehold.subjects import rules
from safehold.subjects.errors import CardExpired, PaymentMethodNotFound
from safehold.subjects.models import PaymentMethod
from safehold.subjects.service import WRITE_PURPOSE, Context, _audit, get
from safehold.vault.errors import DataKeyDestroyed

FIELDS = ("processor_token", "card_brand", "last4", "expiry")


@dataclass(frozen=True)
class PaymentView:
    id: uuid.UUID
    processor: str
    processor_token: str | None  # None once its retention class is shredded
    card: rules.CardDisplay
    removed: bool = False


def _aad_field(name: str, method_id: uuid.UUID) -> str:
    # Bound to the method too, so one card's fields cannot be swapped into another's.
    return f"{name}#{method_id}"


def add(
    session: Session, ctx: Context, subject_id: uuid.UUID, *, actor: Actor, processor: str,
    token: str, brand: str, last4: str, exp_month: int, exp_year: int,
) -> PaymentView:  # fmt: skip
    subject = get(session, subject_id)
    now = ctx.clock.now()
    if (exp_year, exp_month) < (now.year, now.month):  # valid through its expiry month
        raise CardExpired(
            "this card has expired: its expiry month is in the past",
            details={"fields": ["exp_month", "exp_year"]},
        )
    method_id = uuid.uuid4()
    values = {
        "processor_token": token,
        "card_brand": brand,
        "last4": last4,
        "expiry": rules.expiry_text(exp_month, exp_year),
    }
    sealed = {
        name: ctx.vault.encrypt(
            session,
            subject.id,
            ctx.policy.retention_class(rules.PAYMENT, name),
            rules.PAYMENT,
            _aad_field(name, method_id),
            value,
        )
        for name, value in values.items()
    }
    session.add(
        PaymentMethod(
            id=method_id,
            subject_id=subject.id,
            processor=processor,
            token=sealed["processor_token"],
            brand=sealed["card_brand"],
            last4=sealed["last4"],
            expiry=sealed["expiry"],
            created_at=ctx.clock.now(),
            removed_at=None,
        )
    )
    _audit(
        session, ctx, actor, "payment_method.add", subject.id, [rules.PAYMENT], WRITE_PURPOSE, "ok"
    )
    session.flush()
    return PaymentView(
        method_id, processor, token, rules.CardDisplay(brand, last4, exp_month, exp_year)
    )


def remove(
    session: Session, ctx: Context, subject_id: uuid.UUID, method_id: uuid.UUID, *, actor: Actor
) -> None:
    """Remove an active card: its processor token is deleted now, its record is kept (marked
    removed) under the retention class of card records."""
    subject = get(session, subject_id)
    method = session.get(PaymentMethod, (subject.id, method_id))
    if method is None or method.removed_at is not None:
        raise PaymentMethodNotFound(
            "this person has no such payment method", details={"payment_method_id": str(method_id)}
        )
    method.removed_at = ctx.clock.now()
    method.token = b""  # the ciphertext goes; the class's key may still seal other cards
    _audit(
        session, ctx, actor, "payment_method.remove", subject.id, [rules.PAYMENT], WRITE_PURPOSE,
        "ok",
    )  # fmt: skip
    session.flush()


def views(
    session: Session, ctx: Context, subject_id: uuid.UUID, *, include_removed: bool = False
) -> list[PaymentView]:
    """Decrypt the person's active payment methods (and the kept records of removed ones, for
    an export). The caller has already decided and audited the read of ``account.payment``
    for its purpose."""
    out: list[PaymentView] = []
    query = select(PaymentMethod).where(PaymentMethod.subject_id == subject_id)
    if not include_removed:
        query = query.where(PaymentMethod.removed_at.is_(None))
    methods = session.scalars(query.order_by(PaymentMethod.created_at, PaymentMethod.id))
    for method in methods:
        blobs = dict(
            zip(FIELDS, (method.token, method.brand, method.last4, method.expiry), strict=True)
        )
        plain: dict[str, str] = {}
        for name, blob in blobs.items():
            if blob == b"":  # deleted: a removed card's token, or one an erasure dropped
                continue
            try:
                plain[name] = ctx.vault.decrypt(
                    session,
                    subject_id,
                    ctx.policy.retention_class(rules.PAYMENT, name),
                    rules.PAYMENT,
                    _aad_field(name, method.id),
                    blob,
                )
            except DataKeyDestroyed:
                continue  # that part's retention class was shredded
        if not {"card_brand", "last4", "expiry"} <= plain.keys():
            continue
        month, year = rules.parse_expiry(plain["expiry"])
        card = rules.CardDisplay(plain["card_brand"], plain["last4"], month, year)
        token = plain.get("processor_token")
        removed = method.removed_at is not None
        out.append(PaymentView(method.id, method.processor, token, card, removed))
    return out
