"""The record of processing activities in the console: its own page for keys with
``ropa:read``, the same record as the API, every read audited there and in the API
(issue 20, item 21)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from safehold.runtime import Runtime
from safehold.sharing.ropa_read import ACTION
from tests.e2e.conftest import MakeKey, audit_entries, bearer
from tests.e2e.test_console import staff


def test_the_ropa_page_needs_its_scope_and_each_read_is_audited(
    client: TestClient, runtime: Runtime, make_key: MakeKey
) -> None:
    staff(client, make_key, scopes=["requests:write"])
    assert client.get("/admin/ropa").status_code == 403
    assert 'href="/admin/ropa"' not in client.get("/admin").text  # not in its navigation
    assert audit_entries(runtime, ACTION) == []

    staff(client, make_key, scopes=["ropa:read"])
    assert 'href="/admin/ropa"' in client.get("/admin").text
    page = client.get("/admin/ropa")
    assert page.status_code == 200
    text = page.text
    assert "<h1>Record of processing activities" in text
    assert "<h2>(g) Technical and organisational security measures</h2>" in text
    assert "No key rotation has run yet." in text
    assert "re-wrapping every data key" not in text  # people's words, not a field description
    (entry,) = audit_entries(runtime, ACTION)
    assert entry.actor.startswith("api_key:")
    assert (entry.subject_id, entry.outcome) == (None, "ok")

    md = client.get("/admin/ropa?format=md")
    assert md.headers["content-type"].startswith("text/markdown")
    assert md.headers["content-disposition"].startswith('attachment; filename="ropa-')
    assert md.text.startswith("# Record of processing activities")
    as_json = client.get("/admin/ropa?format=json").json()
    api = bearer(make_key(["ropa:read"], ["*"], name="auditor"))
    from_api = client.get("/v1/ropa", headers=api).json()
    for record in (as_json, from_api):
        record.pop("generated_at")
        record["security"]["audit"].pop("entries")
        record["security"]["audit"].pop("head_hash")
        record["security"].pop("measures")  # names the audit log's length
    assert as_json == from_api  # the same record as the API
    assert len(audit_entries(runtime, ACTION)) == 4  # page, Markdown, JSON, API
