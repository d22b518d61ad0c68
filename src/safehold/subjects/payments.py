"""Payment methods: only what the processor hands back — its token, the card brand, the last
four digits and the expiry. A card number never gets this far: request bodies carrying one
are refused before any handler runs (:mod:`safehold.carddata`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from safehold.access.rules import Actor
from safehold.subjects import rules
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


def _aad_field(name: str, method_id: uuid.UUID) -> str:
    # Bound to the method too, so one card's fields cannot be swapped into another's.
    return f"{name}#{method_id}"


def add(
    session: Session, ctx: Context, subject_id: uuid.UUID, *, actor: Actor, processor: str,
    token: str, brand: str, last4: str, exp_month: int, exp_year: int,
) -> PaymentView:  # fmt: skip
    subject = get(session, subject_id)
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


def views(session: Session, ctx: Context, subject_id: uuid.UUID) -> list[PaymentView]:
    """Decrypt the person's active payment methods. The caller has already decided and
    audited the read of ``account.payment`` for its purpose."""
    out: list[PaymentView] = []
    methods = session.scalars(
        select(PaymentMethod)
        .where(PaymentMethod.subject_id == subject_id, PaymentMethod.removed_at.is_(None))
        .order_by(PaymentMethod.created_at, PaymentMethod.id)
    )
    for method in methods:
        blobs = dict(
            zip(FIELDS, (method.token, method.brand, method.last4, method.expiry), strict=True)
        )
        plain: dict[str, str] = {}
        for name, blob in blobs.items():
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
        out.append(PaymentView(method.id, method.processor, plain.get("processor_token"), card))
    return out
