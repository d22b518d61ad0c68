"""``GET /v1/audit/checkpoints/latest``: a third party with the audit:read scope polls the
latest checkpoint, exactly as it was MAC'd, to keep it outside Safehold's database."""

from __future__ import annotations

from fastapi.testclient import TestClient

from safehold.access import checkpoint_jobs, checkpoints
from safehold.runtime import Runtime
from tests.e2e.conftest import MakeKey, bearer


def test_the_latest_checkpoint_is_served_to_audit_readers_only(
    client: TestClient, runtime: Runtime, make_key: MakeKey
) -> None:
    reader = bearer(make_key(["audit:read"]))
    none = client.get("/v1/audit/checkpoints/latest", headers=reader)
    assert none.status_code == 404
    assert none.json()["error"]["code"] == "no_checkpoint"
    checkpoint_jobs.make(runtime)
    made = checkpoint_jobs.make(runtime)
    served = client.get("/v1/audit/checkpoints/latest", headers=reader)
    assert served.status_code == 200
    assert served.json() == made.document()
    kept = checkpoints.parse(served.text)
    assert kept == made
    assert kept is not None
    assert checkpoints.authentic(runtime.audit_key(), kept)
    other = bearer(make_key(["subjects:read"]))
    refused = client.get("/v1/audit/checkpoints/latest", headers=other)
    assert refused.status_code == 403
