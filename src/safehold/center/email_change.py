"""A new sign-in address takes effect only once the code e-mailed to it is entered
(issue 17 item 3, decision 0024).

A typo would lock the person out and a hijacked session could take the account over, so
``/me/details`` does not change the e-mail address at once. :func:`request_change` keeps the
new address sealed (vault-encrypted under the person's ``account.email`` key, with its blind
index) and e-mails a code *to the new address*; the *old* address is told that a change was
asked for, without the code. :func:`confirm_change` checks the code — the sign-in codes'
machinery: 8 digits, a keyed hash bound to the change, :data:`CODE_TTL`, the same attempt
limit, at most :data:`CODES_PER_HOUR` per person — and returns the address, which the caller
then applies as a rectification; the old address is told it took effect. Both e-mails to an
address other than the account's are outbox rows with a sealed recipient
(``comms.service.enqueue(addresses=…)``), rendered by the worker like any other.
Services flush, never commit.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, select, update
from sqlalchemy.orm import Session

from safehold.access import audit
from safehold.access.rules import Actor
from safehold.center.service import Context
from safehold.comms import service as comms
from safehold.errors import RateLimited
from safehold.requests import rules as codes
from safehold.requests.errors import CodeInvalid, CodeMissing
from safehold.subjects import emails
from safehold.subjects.errors import EmailTaken
from safehold.subjects.rules import EMAIL
from safehold.vault.service import EMAIL_INDEX
from safehold.web import rules as web_rules
from safehold.web.models import EmailChange

PURPOSE = "service_provision"  # keeping the account's sign-in address right
KIND = "account_notice"
CODE_TTL = web_rules.SIGN_IN_CODE_TTL  # as a sign-in code: the person is at the screen
CODES_PER_HOUR = web_rules.SIGN_IN_CODES_PER_HOUR
WINDOW = web_rules.SIGN_IN_CODE_WINDOW


def _field(change_id: uuid.UUID) -> str:
    return f"email_change#{change_id}"


def _key(ctx: Context) -> bytes:
    return codes.code_key(ctx.subjects.vault.provider.index_key())


def _klass(ctx: Context) -> str:
    return ctx.subjects.policy.retention_class(EMAIL, "email")


def _waiting(sid: uuid.UUID) -> ColumnElement[bool]:
    """The person's change waiting for its code: not confirmed, not replaced (a replaced or
    confirmed change keeps no address). At most one row per person matches."""
    return and_(
        EmailChange.subject_id == sid,
        EmailChange.used_at.is_(None),
        func.length(EmailChange.sealed_address) > 0,
    )


def pending(session: Session, ctx: Context, sid: uuid.UUID) -> EmailChange | None:
    """The person's change waiting for its code, while its code is live."""
    now = ctx.subjects.clock.now()
    return session.scalars(
        select(EmailChange).where(_waiting(sid), EmailChange.expires_at > now).limit(1)
    ).first()


def _mail(
    session: Session, ctx: Context, sid: uuid.UUID, *, to: str, subject: str, text: str,
    code: str | None = None,
) -> None:  # fmt: skip
    """One e-mail to ``to`` (not necessarily the account's address), through the outbox."""
    comms.enqueue(
        session, ctx.comms, actor=Actor("system", "privacy-center"), kind=KIND,
        subject_ids=[sid], subject=subject, text=text, html=None,
        secrets={sid: code} if code is not None else None, addresses={sid: to},
    )  # fmt: skip


def _operator(ctx: Context) -> str:
    return ctx.subjects.policy.policy.operator


def _code_text(ctx: Context) -> str:
    minutes = int(CODE_TTL.total_seconds() // 60)
    return (
        "Hello {{ name }},\n\n"
        "Your code to confirm this address as the new sign-in address of your account at "
        f"{_operator(ctx)} is {{{{ secret }}}}.\n\n"
        f"Type it on the page where you asked for the change. It expires in {minutes} minutes "
        "and works once. If you did not ask for this, ignore this e-mail: the address of the "
        "account does not change without the code."
    )


def _asked_text(ctx: Context) -> str:
    return (
        "Hello {{ name }},\n\n"
        f"Someone signed in to your account at {_operator(ctx)} asked to change its sign-in "
        "e-mail address to another one. The change takes effect only when the code we sent "
        "to the new address is entered; until then this address stays the account's.\n\n"
        "If this was not you, sign in to the privacy center ({{ privacy_center_url }}) and "
        "check your details, and tell us."
    )


def _done_text(ctx: Context, when: datetime) -> str:
    return (
        "Hello {{ name }},\n\n"
        f"The sign-in e-mail address of your account at {_operator(ctx)} was changed on "
        f"{when:%Y-%m-%d at %H:%M} UTC, after the code sent to the new address was entered. "
        "This address no longer signs in to the account, and we will not write to it "
        "again about the account.\n\n"
        "If this was not you, tell us at once."
    )


def request_change(
    session: Session, ctx: Context, sid: uuid.UUID, *, actor: Actor, new: str, old: str
) -> EmailChange:
    """Keep ``new`` (normalised) until it is confirmed, e-mail it a code and tell ``old``.

    Raises :class:`EmailTaken` when another account uses ``new`` and :class:`RateLimited`
    after :data:`CODES_PER_HOUR` codes in the last hour. An earlier change still waiting is
    replaced (its code stops working)."""
    now = ctx.subjects.clock.now()
    vault = ctx.subjects.vault
    index = vault.index(EMAIL_INDEX, new)
    taken = emails.owner(session, index)
    if taken not in (None, sid):
        raise EmailTaken("another account uses this e-mail address", details={"field": "email"})
    recent = session.scalar(
        select(func.count()).where(
            EmailChange.subject_id == sid, EmailChange.created_at > now - WINDOW
        )
    )
    if int(recent or 0) >= CODES_PER_HOUR:
        raise RateLimited(
            "too many address changes were asked for in the last hour",
            retry_after=int(WINDOW.total_seconds()),
        )
    session.execute(  # replaced: its code stops working, its address goes; the row counts
        update(EmailChange)
        .where(_waiting(sid))
        .values(sealed_address=b"", expires_at=now)
        .execution_options(synchronize_session="fetch")
    )
    code = codes.new_code()
    change_id = uuid.uuid4()
    change = EmailChange(
        id=change_id, subject_id=sid,
        sealed_address=vault.encrypt(session, sid, _klass(ctx), EMAIL, _field(change_id), new),
        address_index=index, code_hash=codes.hash_code(_key(ctx), change_id, code),
        created_at=now, expires_at=now + CODE_TTL, attempts=0, used_at=None,
    )  # fmt: skip
    session.add(change)
    session.flush()
    _mail(session, ctx, sid, to=new, subject="Confirm your new e-mail address",
          text=_code_text(ctx), code=code)  # fmt: skip
    _mail(session, ctx, sid, to=old, subject="A change of your sign-in address was asked for",
          text=_asked_text(ctx))  # fmt: skip
    audit.record(
        session, actor=actor, action="subject.email_change.request", subject_id=sid,
        categories=[EMAIL], purpose=PURPOSE, outcome="ok", clock=ctx.subjects.clock,
    )  # fmt: skip
    return change


def confirm_change(
    session: Session, ctx: Context, sid: uuid.UUID, *, actor: Actor, code: str, old: str
) -> str:
    """The new address, once ``code`` is its live code (the change is then spent and ``old``
    is told); the caller applies it as a rectification in the same transaction. A wrong code
    counts an attempt (:class:`CodeInvalid` keeps that write); no change waiting:
    :class:`CodeMissing`; expired or out of attempts: ``CodeExpired``,
    ``CodeAttemptsExhausted``."""
    now = ctx.subjects.clock.now()
    change = session.scalars(
        select(EmailChange).where(_waiting(sid)).limit(1).with_for_update()
    ).first()
    if change is None:
        raise CodeMissing("no change of address is waiting: ask again", details={})
    state = codes.CodeState(change.code_hash, change.expires_at, change.attempts)
    try:
        codes.check_code(_key(ctx), change.id, state, code, now)
    except CodeInvalid:
        change.attempts += 1
        session.flush()
        raise
    new = ctx.subjects.vault.decrypt(
        session, sid, _klass(ctx), EMAIL, _field(change.id), change.sealed_address
    )
    change.used_at = now
    change.sealed_address = b""  # applied: the account's own value holds it from now on
    session.flush()
    _mail(session, ctx, sid, to=old, subject="Your sign-in address was changed",
          text=_done_text(ctx, now))  # fmt: skip
    audit.record(
        session, actor=actor, action="subject.email_change.confirm", subject_id=sid,
        categories=[EMAIL], purpose=PURPOSE, outcome="ok", clock=ctx.subjects.clock,
    )  # fmt: skip
    return new
