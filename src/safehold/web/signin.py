"""Privacy-center sign-in: a one-time code e-mailed to the account's address.

Asking for a code never says whether an account exists — not by the answer, not by its
timing (decision 0019). The request does the same work whatever the address: it records
an *attempt* (the address's blind index, and the hash of a placeholder no typed code can
match) and answers with the attempt's id. The worker then handles the attempt
(:func:`handle_attempts`, job ``web.sign_in``): it looks the address up and, for an account
that may have a code now, puts a real code's hash on the attempt and queues the e-mail.
Checking a code reads only the attempt, so an attempt for an unknown address counts wrong
codes, runs out and expires exactly like one for a real account.

A code is 8 digits, lives :data:`rules.SIGN_IN_CODE_TTL`, allows
:data:`requests.rules.CODE_MAX_ATTEMPTS` tries, is spent by its first correct use, and only
its keyed hash is stored (the same scheme as request-verification codes). At most
:data:`rules.SIGN_IN_CODES_PER_HOUR` codes are e-mailed to one person per hour.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from safehold.access import audit
from safehold.access.rules import Actor
from safehold.comms import rules as comms_rules
from safehold.comms import service as comms
from safehold.requests import rules as codes
from safehold.requests.errors import CodeInvalid, CodeMissing
from safehold.runtime import Runtime
from safehold.subjects import emails
from safehold.subjects import service as subjects
from safehold.subjects.models import Subject
from safehold.subjects.rules import EMAIL, normalise_email
from safehold.vault.service import EMAIL_INDEX
from safehold.web import rules
from safehold.web.models import SignInCode

ACTOR = Actor("system", "privacy-center")
PURPOSE = "service_provision"  # signing a customer in to their account


@dataclass(frozen=True)
class Context:
    subjects: subjects.Context
    comms: comms.Context


def context(runtime: Runtime) -> Context:
    return Context(
        subjects.Context(runtime.vault, runtime.policy, runtime.clock, runtime.book),
        comms.context(runtime),
    )


@dataclass(frozen=True)
class Handled:
    """One round of the worker: attempts handled, and codes e-mailed (queued) for them."""

    attempts: int
    mailed: int


def _mail(operator: str) -> str:
    minutes = int(rules.SIGN_IN_CODE_TTL.total_seconds() // 60)
    return (
        "Hello {{ name }},\n\n"
        "Your code to sign in to the privacy center is {{ secret }}.\n\n"
        f"It expires in {minutes} minutes and works once. If you did not ask to sign in at "
        f"{operator}, ignore this e-mail: nobody can sign in without the code."
    )


def _code_key(ctx: Context) -> bytes:
    return codes.code_key(ctx.subjects.vault.provider.index_key())


def request_code(session: Session, ctx: Context, address: str) -> uuid.UUID:
    """Record an attempt to sign in with ``address`` and return its id. The same work and
    the same one row whatever the address: whether a code is e-mailed is the worker's
    business (:func:`handle_attempts`)."""
    email = normalise_email(address)  # as registration stores it; InvalidEmail, ConfusableEmail
    now = ctx.subjects.clock.now()
    attempt = uuid.uuid4()
    session.add(
        SignInCode(
            id=attempt,
            subject_id=None,
            address_index=ctx.subjects.vault.index(EMAIL_INDEX, email),
            code_hash=codes.hash_code(_code_key(ctx), attempt, rules.unmatchable_code()),
            created_at=now,
            expires_at=now + rules.SIGN_IN_CODE_TTL,
            attempts=0,
            used_at=None,
        )
    )
    session.flush()
    return attempt


def handle_attempts(
    session: Session, ctx: Context, *, batch_size: int = rules.SIGN_IN_BATCH
) -> Handled:
    """The worker's half: claim the attempts not yet handled (oldest first; rows another
    worker holds are skipped), forget each address's blind index and, when it names an
    account that may have a code now, e-mail one. Attempts that mail nothing keep their
    placeholder. The claim is the transaction's first statement and a write, as the
    outbox's: on SQLite the lock is taken up front, so a writer committing meanwhile cannot
    make this transaction fail between a read and its first write."""
    now = ctx.subjects.clock.now()
    pending = (
        select(SignInCode.id)
        .where(SignInCode.handled_at.is_(None))
        .order_by(SignInCode.created_at, SignInCode.id)
        .limit(batch_size)
        .with_for_update(skip_locked=True)
    )
    claimed = dict(
        session.execute(
            update(SignInCode)
            .where(SignInCode.id.in_(pending.scalar_subquery()))
            .values(handled_at=now)
            .returning(SignInCode.id, SignInCode.address_index)
            .execution_options(synchronize_session=False)
        ).all()
    )
    attempts = session.scalars(
        select(SignInCode)
        .where(SignInCode.id.in_(list(claimed)))
        .order_by(SignInCode.created_at, SignInCode.id)
        .execution_options(populate_existing=True)
    ).all()
    mailed = 0
    for attempt in attempts:
        attempt.address_index = None
        index = claimed[attempt.id]
        if index is not None and _mail_code(session, ctx, attempt, index, now):
            mailed += 1
    session.flush()
    return Handled(attempts=len(attempts), mailed=mailed)


def _mail_code(
    session: Session, ctx: Context, attempt: SignInCode, index: str, now: datetime
) -> bool:
    """E-mail a code for ``attempt`` if its address is an account's that may have one now."""
    if now >= attempt.expires_at:  # a worker that was down: a code would arrive dead
        return False
    subject = session.scalars(select(Subject).where(emails.finds(index)).limit(1)).first()
    if subject is None or subject.status == "erased":
        return False
    audit.record(
        session, actor=ACTOR, action="subject.lookup", subject_id=subject.id, categories=[EMAIL],
        purpose=PURPOSE, outcome="ok", clock=ctx.subjects.clock,
    )  # fmt: skip
    recent = session.scalar(
        select(func.count()).where(
            SignInCode.subject_id == subject.id,
            SignInCode.created_at > now - rules.SIGN_IN_CODE_WINDOW,
        )
    )
    if int(recent or 0) >= rules.SIGN_IN_CODES_PER_HOUR:
        return False
    code = codes.new_code()
    attempt.subject_id = subject.id
    attempt.code_hash = codes.hash_code(_code_key(ctx), attempt.id, code)
    session.flush()
    comms.enqueue(
        session, ctx.comms, actor=ACTOR, kind=comms_rules.notice_kind(subject.status),
        subject_ids=[subject.id], subject="Your sign-in code",
        text=_mail(ctx.subjects.policy.policy.operator), html=None, secrets={subject.id: code},
        internal=True,
    )  # fmt: skip
    return True


def check_code(session: Session, ctx: Context, attempt: uuid.UUID, code: str) -> uuid.UUID:
    """The person a correct, live code belongs to; the code is then spent. A wrong code
    counts an attempt (:class:`CodeInvalid` keeps that write) and says how many are left."""
    now = ctx.subjects.clock.now()
    row = session.scalars(
        select(SignInCode).where(SignInCode.id == attempt).with_for_update()
    ).first()
    if row is None:  # an id nobody was given, or an attempt cleared away after its expiry
        raise CodeInvalid("the code is wrong", details={})
    if row.used_at is not None:
        raise CodeMissing("the code has been used: ask for a new one", details={})
    state = codes.CodeState(row.code_hash, row.expires_at, row.attempts)
    try:
        codes.check_code(_code_key(ctx), row.id, state, code, now)
        if row.subject_id is None:  # never: no typed code matches the placeholder
            raise CodeInvalid("the code is wrong", details={})
    except CodeInvalid:
        row.attempts += 1
        session.flush()
        raise
    row.used_at = now
    session.flush()
    return row.subject_id
