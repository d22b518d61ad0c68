"""The key boundary of every operation the OpenAPI document marks as secured: without a key
(or with a malformed or unknown one) the answer is 401 ``invalid_api_key`` with
``WWW-Authenticate: Bearer``; with a key that holds one unrelated scope it is 403, except
for the few operations any valid key may call. Both in the one error shape, with nothing
of the request echoed."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from safehold.handlers import ErrorOut
from tests.fuzz.conftest import (
    ANY_KEY,
    DOCUMENT,
    NARROW_SCOPE_OPERATIONS,
    PUBLIC,
    Target,
    bearer,
)

pytestmark = pytest.mark.fuzz

FORGED = [
    "shk_aaaaaaaaaaaaa_" + "b" * 43,  # well-formed, unknown
    "not-a-key",
    "shk_zzzzzzzzzzzzz_" + "c" * 12,  # malformed secret
]


def secured() -> Iterator[tuple[str, str]]:
    for path, operations in DOCUMENT["paths"].items():
        for method, operation in operations.items():
            if operation.get("security"):
                yield method.upper(), path


OPERATIONS = sorted(secured(), key=lambda op: (op[1], op[0]))


def concrete(path: str) -> str:
    """A path with every parameter filled: an id that does not exist (auth comes first)."""
    key_id = "k" * 13  # the shape of a key id (access.rules.KEY_ID_PATTERN); no such key
    return re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path.replace("{key_id}", key_id))


@pytest.fixture(scope="module")
def client(target: Target) -> Iterator[TestClient]:
    with TestClient(target.app, raise_server_exceptions=False) as c:
        yield c


def test_every_v1_operation_but_the_public_policy_takes_a_key() -> None:
    public = {
        f"{method.upper()} {path}"
        for path, operations in DOCUMENT["paths"].items()
        for method, operation in operations.items()
        if path.startswith("/v1/") and not operation.get("security")
    }
    assert public == PUBLIC
    assert len(OPERATIONS) > 50


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_no_key_or_a_forged_key_is_401(client: TestClient, method: str, path: str) -> None:
    url = concrete(path)
    for headers in [{}, *(bearer(token) for token in FORGED)]:
        response = client.request(method, url, headers=headers)
        assert response.status_code == 401, (headers, response.text)
        assert response.headers["www-authenticate"] == "Bearer"
        error = ErrorOut.model_validate(response.json()).error
        assert error.code == "invalid_api_key"
        for token in FORGED:
            assert token not in response.text


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_a_key_without_the_scope_is_403(
    client: TestClient, target: Target, method: str, path: str
) -> None:
    label = f"{method} {path}"
    response = client.request(method, concrete(path), headers=bearer(target.narrow))
    if label in ANY_KEY or label in NARROW_SCOPE_OPERATIONS:
        assert response.status_code not in {401, 403}, response.text
        return
    assert response.status_code == 403, response.text
    error = ErrorOut.model_validate(response.json()).error
    assert error.code in {"missing_scope", "purpose_not_allowed"}
