"""Property-based fuzzing of the HTTP API against its own OpenAPI document (schemathesis):
every operation, generated valid and invalid input, with a key holding every scope and
purpose. No answer may be a 5xx, use a status the document does not declare, or break the
schema it declares. Then a shorter run of the same operations with a key holding one
unrelated scope: nothing outside it succeeds, and its refusals keep the same contract
(tests/fuzz/test_auth_boundary.py checks every operation without a key and with forged ones).

One stock check is left out: ``positive_data_acceptance`` wants every schema-valid request
accepted, but Safehold answers 422 for what a JSON schema cannot say — a wrong verification
code, an unknown scope, an address that cannot receive mail, a card number in a free-text
field — and that refusal is the point (decision 0011)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.fuzz.conftest import (
    ANY_KEY,
    BASE_URL,
    DERANDOMIZE,
    EXAMPLES,
    NARROW_SCOPE_OPERATIONS,
    PUBLIC,
    Target,
    api,
    bearer,
)

pytestmark = pytest.mark.fuzz


@api.parametrize()
@settings(
    max_examples=EXAMPLES, deadline=None, derandomize=DERANDOMIZE,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)  # fmt: skip
def test_every_operation_keeps_its_contract(case: schemathesis.Case, target: Target) -> None:
    case.call_and_validate(
        base_url=BASE_URL, headers=bearer(target.admin),
        excluded_checks=[positive_data_acceptance],  # see the module docstring
    )  # fmt: skip


@api.parametrize()
@settings(
    max_examples=max(2, EXAMPLES // 4), deadline=None, derandomize=DERANDOMIZE,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)  # fmt: skip
def test_a_narrow_key_is_refused_in_the_one_shape(case: schemathesis.Case, target: Target) -> None:
    """The same generated requests with a key holding only ``events:write`` and no purpose:
    nothing outside its scope succeeds, and every refusal keeps the documented contract."""
    response = case.call(base_url=BASE_URL, headers=bearer(target.narrow))
    case.validate_response(
        response, checks=[not_a_server_error, status_code_conformance,
                          content_type_conformance, response_schema_conformance],
    )  # fmt: skip
    label = f"{case.method.upper()} {case.operation.path}"
    if label in PUBLIC | ANY_KEY | NARROW_SCOPE_OPERATIONS or not label.split()[1].startswith(
        "/v1/"
    ):
        return
    assert not 200 <= response.status_code < 300, label
    if response.status_code == 403:
        assert response.json()["error"]["code"] in {"missing_scope", "purpose_not_allowed"}
