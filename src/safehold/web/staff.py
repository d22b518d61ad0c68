"""Staff sign-in to the admin console with an API key (the break-glass path, open only until
an owner has joined: decision 0042), audited either way.

A refused attempt leaves an audit entry (``console.sign_in``, outcome ``refused``) so key
stuffing and probing for key ids leave a trace; a successful one leaves ``ok``. Neither
holds the submitted token or its secret: the actor is the key the token names when that key
exists (its id is public: keys are listed by id and every entry of theirs names it), and
otherwise :data:`ANONYMOUS` — an id nobody issued is never written down, whatever it is.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from safehold.access import audit
from safehold.access import service as access
from safehold.access.errors import InvalidApiKey
from safehold.access.models import ApiKey
from safehold.access.rules import Actor, parse_token
from safehold.clock import Clock

ACTION = "console.sign_in"
ANONYMOUS = "console-sign-in"  # the system actor's id when the token names no key
CLOSED = (
    "API keys no longer sign in to the console: an owner has joined. Sign in with your "
    "e-mail address; an owner who lost their authenticator is reset by another owner, or on "
    "the server with 'safehold staff reset-totp'."
)


def sign_in(session: Session, token: str, *, clock: Clock, request_id: str | None) -> ApiKey:
    """The live key ``token`` proves. Raises :class:`InvalidApiKey` (the same messages as
    the API) after recording the refusal; the caller commits that entry."""
    try:
        key = access.authenticate(session, token)
    except InvalidApiKey:
        _record(session, _claimed(session, token, request_id), "refused", clock)
        raise
    _record(session, Actor("api_key", key.id, request_id=request_id), "ok", clock)
    return key


def refuse_closed(session: Session, token: str, *, clock: Clock, request_id: str | None) -> None:
    """Record a key sign-in tried after the path closed: the key is not checked (a closed
    path tells nothing about a key), the entry names it only when its id exists."""
    _record(session, _claimed(session, token, request_id), "closed", clock)


def _claimed(session: Session, token: str, request_id: str | None) -> Actor:
    """Whom the attempt claimed to be: an existing key (wrong secret, or revoked), or nobody."""
    parsed = parse_token(token)
    if parsed is not None and session.get(ApiKey, parsed[0]) is not None:
        return Actor("api_key", parsed[0], request_id=request_id)
    return Actor("system", ANONYMOUS, request_id=request_id)


def _record(session: Session, actor: Actor, outcome: str, clock: Clock) -> None:
    audit.record(
        session, actor=actor, action=ACTION, subject_id=None, categories=[], purpose=None,
        outcome=outcome, clock=clock,
    )  # fmt: skip
