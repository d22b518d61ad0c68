from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from safehold.access import service
from safehold.access.errors import (
    ApiKeyNotFound,
    InvalidApiKey,
    RevocationRefused,
    ScopeEscalation,
    UnknownPurpose,
    UnknownScope,
)
from safehold.access.models import ApiKey
from safehold.access.rules import SCOPES, Actor
from safehold.clock import FrozenClock

PURPOSES = ["service_provision", "communication.service", "communication.marketing"]
CLI = Actor("admin", "cli")


def make(session: Session, clock: FrozenClock, **kw: object) -> service.CreatedKey:
    args: dict[str, object] = {
        "name": "billing backend",
        "scopes": ["subjects:read"],
        "purposes": ["service_provision"],
        "known_purposes": PURPOSES,
        "clock": clock,
        "actor": CLI,
    }
    args.update(kw)
    return service.create_key(session, **args)  # type: ignore[arg-type]


def test_only_a_hash_of_the_secret_is_stored(session: Session, clock: FrozenClock) -> None:
    created = make(session, clock)
    row = session.scalars(select(ApiKey)).one()
    secret = created.token.split("_", 2)[2]  # the secret is base64url: it may hold "_"
    assert secret not in row.secret_hash
    assert service.authenticate(session, created.token).id == row.id


@pytest.mark.parametrize("token", ["", "shk_", "Bearer x", "shk_aaaaaaaaaaaaa_" + "x" * 43])
def test_malformed_or_unknown_tokens_are_refused(session: Session, token: str) -> None:
    with pytest.raises(InvalidApiKey):
        service.authenticate(session, token)


def test_a_revoked_key_stops_working(session: Session, clock: FrozenClock) -> None:
    created = make(session, clock)
    service.revoke_key(session, created.key.id, clock=clock)
    with pytest.raises(InvalidApiKey, match="revoked"):
        service.authenticate(session, created.token)
    with pytest.raises(ApiKeyNotFound):
        service.revoke_key(session, "nosuchkey", clock=clock)


def test_unknown_scopes_and_purposes_are_refused(session: Session, clock: FrozenClock) -> None:
    with pytest.raises(UnknownScope):
        make(session, clock, scopes=["subjects:everything"])
    with pytest.raises(UnknownPurpose):
        make(session, clock, purposes=["profiling"])
    assert session.scalars(select(ApiKey)).all() == []


def test_a_key_cannot_create_a_wider_key(session: Session, clock: FrozenClock) -> None:
    granter = make(session, clock, scopes=["keys:admin", "subjects:read"]).key
    with pytest.raises(ScopeEscalation):
        make(session, clock, scopes=["subjects:write"], granter=granter)
    with pytest.raises(ScopeEscalation):
        make(session, clock, purposes=["communication.marketing"], granter=granter)
    narrower = make(session, clock, scopes=["subjects:read"], granter=granter)
    assert narrower.key.scopes == ["subjects:read"]


def test_a_key_cannot_revoke_a_wider_key(session: Session, clock: FrozenClock) -> None:
    narrow = make(session, clock, scopes=["keys:admin", "subjects:read"]).key
    wider_scope = make(session, clock, scopes=["keys:admin", "audit:read"]).key
    wider_purpose = make(session, clock, purposes=["service_provision", "communication.service"])
    every_purpose = make(session, clock, purposes=["*"]).key
    for key in (wider_scope, wider_purpose.key, every_purpose):
        with pytest.raises(RevocationRefused) as refused:
            service.revoke_key(session, key.id, clock=clock, revoker=narrow)
        assert refused.value.details["not_held"]
        assert key.revoked_at is None
    assert service.authenticate(session, wider_purpose.token).id == wider_purpose.key.id
    same = make(session, clock, scopes=["subjects:read"]).key
    assert service.revoke_key(session, same.id, clock=clock, revoker=narrow).revoked_at
    assert service.revoke_key(session, narrow.id, clock=clock, revoker=narrow).revoked_at
    # The CLI (no revoker) may revoke any key.
    assert service.revoke_key(session, every_purpose.id, clock=clock).revoked_at


def test_bootstrap_key_only_on_an_empty_database(session: Session, clock: FrozenClock) -> None:
    first = service.ensure_bootstrap_key(session, known_purposes=PURPOSES, clock=clock)
    assert first is not None
    assert first.key.scopes == sorted(SCOPES)
    assert first.key.purposes == ["*"]
    assert service.ensure_bootstrap_key(session, known_purposes=PURPOSES, clock=clock) is None
