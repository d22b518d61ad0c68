"""Privacy-center sign-in: a one-time code e-mailed to the account's address.

Asking for a code never says whether an account exists (the page and the timing of the
answer are the same either way). A code is 8 digits, lives :data:`rules.SIGN_IN_CODE_TTL`,
allows :data:`requests.rules.CODE_MAX_ATTEMPTS` tries, is spent by its first correct use,
and only its keyed hash is stored (the same scheme as request-verification codes). At most
:data:`rules.SIGN_IN_CODES_PER_HOUR` codes are e-mailed to one person per hour.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from safehold.access.rules import Actor
from safehold.comms import service as comms
from safehold.requests import rules as codes
from safehold.requests.errors import CodeInvalid, CodeMissing
from safehold.subjects import service as subjects
from safehold.subjects.errors import SubjectNotFound
from safehold.subjects.rules import normalise_email
from safehold.web import rules
from safehold.web.models import SignInCode

ACTOR = Actor("system", "privacy-center")
PURPOSE = "service_provision"  # signing a customer in to their account
CODE_KIND = "account_notice"


@dataclass(frozen=True)
class Context:
    subjects: subjects.Context
    comms: comms.Context


def _mail(operator: str) -> str:
    minutes = int(rules.SIGN_IN_CODE_TTL.total_seconds() // 60)
    return (
        "Hello {{ name }},\n\n"
        "Your code to sign in to the privacy center is {{ secret }}.\n\n"
        f"It expires in {minutes} minutes and works once. If you did not ask to sign in at "
        f"{operator}, ignore this e-mail: nobody can sign in without the code."
    )


def request_code(session: Session, ctx: Context, address: str) -> uuid.UUID:
    """E-mail a code to the account with this address, if there is one and it may have one
    now; returns the attempt's id either way (a random one when nothing was sent)."""
    email = normalise_email(address)  # as registration stores it; InvalidEmail, ConfusableEmail
    now = ctx.subjects.clock.now()
    try:
        subject = subjects.lookup(session, ctx.subjects, actor=ACTOR, purpose=PURPOSE, email=email)
    except SubjectNotFound:
        return uuid.uuid4()
    if subject.status == "erased":
        return uuid.uuid4()
    recent = session.scalar(
        select(func.count()).where(
            SignInCode.subject_id == subject.id,
            SignInCode.created_at > now - rules.SIGN_IN_CODE_WINDOW,
        )
    )
    if int(recent or 0) >= rules.SIGN_IN_CODES_PER_HOUR:
        return uuid.uuid4()
    code, attempt = codes.new_code(), uuid.uuid4()
    key = codes.code_key(ctx.subjects.vault.provider.index_key())
    session.add(
        SignInCode(
            id=attempt,
            subject_id=subject.id,
            code_hash=codes.hash_code(key, attempt, code),
            created_at=now,
            expires_at=now + rules.SIGN_IN_CODE_TTL,
            attempts=0,
            used_at=None,
        )
    )
    session.flush()
    comms.enqueue(
        session, ctx.comms, actor=ACTOR, kind=CODE_KIND, subject_ids=[subject.id],
        subject="Your sign-in code", text=_mail(ctx.subjects.policy.policy.operator),
        html=None, secrets={subject.id: code},
    )  # fmt: skip
    return attempt


def check_code(session: Session, ctx: Context, attempt: uuid.UUID, code: str) -> uuid.UUID:
    """The person a correct, live code belongs to; the code is then spent. A wrong code
    counts an attempt (:class:`CodeInvalid` keeps that write) and says how many are left."""
    now = ctx.subjects.clock.now()
    row = session.scalars(
        select(SignInCode).where(SignInCode.id == attempt).with_for_update()
    ).first()
    if row is None:  # no account behind the attempt: answered like a wrong code
        raise CodeInvalid("the code is wrong", details={})
    if row.used_at is not None:
        raise CodeMissing("the code has been used: ask for a new one", details={})
    key = codes.code_key(ctx.subjects.vault.provider.index_key())
    state = codes.CodeState(row.code_hash, row.expires_at, row.attempts)
    try:
        codes.check_code(key, row.id, state, code, now)
    except CodeInvalid:
        row.attempts += 1
        session.flush()
        raise
    row.used_at = now
    session.flush()
    return row.subject_id
