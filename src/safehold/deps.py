"""FastAPI dependencies: the runtime, one database session per request, the calling key."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from safehold.access import service as access
from safehold.access.errors import InvalidApiKey
from safehold.access.models import ApiKey
from safehold.access.rules import Actor
from safehold.errors import SafeholdError
from safehold.runtime import Runtime

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer shk_…`")


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    runtime.book.refresh_if_stale(runtime.sessions)  # a version published elsewhere
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_session(runtime: RuntimeDep) -> Iterator[Session]:
    """The request's session. Routes that write call ``commit()`` before answering, so a
    success response is only sent once the data is durable; anything else is rolled back,
    except what a refusal that ``keeps_writes`` recorded (its audit entry)."""
    with runtime.sessions() as session:
        try:
            yield session
        except SafeholdError as exc:
            if exc.keeps_writes:  # e.g. the audit entry of a refused read
                session.commit()
            raise
        finally:
            session.rollback()


SessionDep = Annotated[Session, Depends(get_session)]


def get_api_key(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiKey:
    if credentials is None:
        raise InvalidApiKey("an API key is required: send 'Authorization: Bearer <key>'")
    return access.authenticate(session, credentials.credentials)


ApiKeyDep = Annotated[ApiKey, Depends(get_api_key)]


def require_scope(scope: str) -> Callable[[ApiKey], ApiKey]:
    """A dependency that lets the request through only for a key holding ``scope``."""

    def dependency(key: ApiKeyDep) -> ApiKey:
        access.require_scope(key, scope)
        return key

    dependency.__name__ = f"require_{scope.replace(':', '_')}"
    return dependency


def get_actor(request: Request, key: ApiKeyDep) -> Actor:
    """The calling key as the actor of audit entries, with the request's id."""
    return Actor("api_key", key.id, request_id=getattr(request.state, "request_id", None))


ActorDep = Annotated[Actor, Depends(get_actor)]
