"""Use cases for API keys, shared by the HTTP API and the CLI. Services flush, never commit."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from safehold.access import rules
from safehold.access.errors import (
    ApiKeyNotFound,
    InvalidApiKey,
    MissingScope,
    PurposeNotAllowed,
    RevocationRefused,
    ScopeEscalation,
    UnknownPurpose,
    UnknownScope,
)
from safehold.access.models import ApiKey
from safehold.clock import Clock

BOOTSTRAP_KEY_NAME = "bootstrap-admin"


@dataclass(frozen=True)
class CreatedKey:
    key: ApiKey
    token: str  # shown once, never stored


def create_key(
    session: Session,
    *,
    name: str,
    scopes: Sequence[str],
    purposes: Sequence[str],
    known_purposes: Iterable[str],
    clock: Clock,
    actor: rules.Actor,
    granter: ApiKey | None = None,
) -> CreatedKey:
    """Create a key. ``granter`` is the calling key over HTTP: the new key may not exceed it."""
    scopes, purposes = sorted(set(scopes)), sorted(set(purposes))
    bad_scopes = rules.unknown_scopes(scopes)
    if bad_scopes:
        raise UnknownScope(  # the message never repeats what was sent
            f"the request names an unknown scope; known scopes: {', '.join(rules.SCOPES)}",
            details={"known": list(rules.SCOPES)},
        )
    allowed = {*known_purposes, rules.ANY_PURPOSE}
    bad_purposes = [p for p in purposes if p not in allowed]
    if bad_purposes:
        raise UnknownPurpose(
            "the request names a purpose the policy does not declare",
            details={"known": sorted(allowed)},
        )
    if granter is not None:
        extra = rules.widens(granter.scopes, granter.purposes, scopes, purposes)
        if extra:
            raise ScopeEscalation(
                "a key cannot create a key with more rights than its own",
                details={"not_held": extra},
            )
    token = rules.new_token()
    key = ApiKey(
        id=token.key_id,
        name=name,
        secret_hash=token.secret_hash,
        scopes=scopes,
        purposes=purposes,
        created_at=clock.now(),
        created_by=str(actor),
        revoked_at=None,
    )
    session.add(key)
    session.flush()
    return CreatedKey(key, token.token)


def authenticate(session: Session, token: str) -> ApiKey:
    parsed = rules.parse_token(token)
    key = session.get(ApiKey, parsed[0]) if parsed else None
    if parsed is None or key is None or not rules.secret_matches(parsed[1], key.secret_hash):
        raise InvalidApiKey("the API key is not valid")
    if key.revoked_at is not None:
        raise InvalidApiKey("the API key has been revoked")
    return key


def require_scope(key: ApiKey, scope: str) -> None:
    if not rules.holds(key.scopes, scope):
        raise MissingScope(
            f"this API key lacks the scope {scope!r}", details={"required_scope": scope}
        )


def require_purpose(key: ApiKey, purpose: str, *, declared: Collection[str]) -> None:
    """Refuse a purpose the key does not hold. The refusal names the purpose only when it is
    one of the policy's ``declared`` ids: a submitted value is never repeated."""
    if not rules.purpose_allowed(key.purposes, purpose):
        named = purpose in declared
        raise PurposeNotAllowed(
            "this API key may not use personal data for "
            + (f"the purpose {purpose!r}" if named else "an undeclared purpose"),
            details={"purpose": purpose if named else None, "allowed_purposes": key.purposes},
        )


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)))


def revoke_key(
    session: Session, key_id: str, *, clock: Clock, revoker: ApiKey | None = None
) -> ApiKey:
    """Revoke a key; it stops working at once. ``revoker`` is the calling key over HTTP: it
    may revoke itself, or a key holding nothing it does not hold itself (the rule that stops
    it creating a wider key, :func:`rules.widens`). The CLI (shell access) revokes any key."""
    key = session.get(ApiKey, key_id)
    if key is None:
        raise ApiKeyNotFound("no API key with that id", details={"key_id": key_id})
    if revoker is not None and key.id != revoker.id:
        extra = rules.widens(revoker.scopes, revoker.purposes, key.scopes, key.purposes)
        if extra:
            raise RevocationRefused(
                "a key cannot revoke a key that holds rights it does not hold itself",
                details={"not_held": extra},
            )
    if key.revoked_at is None:
        key.revoked_at = clock.now()
        session.flush()
    return key


def ensure_bootstrap_key(
    session: Session, *, known_purposes: Iterable[str], clock: Clock
) -> CreatedKey | None:
    """On an empty database, make the first admin key so a new operator can use the API."""
    if session.scalar(select(func.count()).select_from(ApiKey)):
        return None
    return create_key(
        session,
        name=BOOTSTRAP_KEY_NAME,
        scopes=list(rules.SCOPES),
        purposes=[rules.ANY_PURPOSE],
        known_purposes=known_purposes,
        clock=clock,
        actor=rules.Actor("system", "serve"),
    )
