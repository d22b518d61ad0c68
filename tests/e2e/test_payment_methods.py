"""Issue 20, item 22: a person's cards can be listed and removed through the API, an expiry
in the past is refused, and a removed card's kept record is in the person's export."""

from __future__ import annotations

import json
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from safehold.requests import export
from safehold.runtime import Runtime
from safehold.subjects.models import PaymentMethod
from tests.e2e.conftest import MakeKey, audit_entries, bearer
from tests.e2e.test_http_skeleton import assert_error
from tests.e2e.test_subjects import CARD, register
from tests.integration.requests.support import ctx


@pytest.fixture
def admin(make_key: MakeKey) -> dict[str, str]:
    return bearer(make_key(["subjects:read", "subjects:write"], ["*"], name="crm"))


def _add(client: TestClient, headers: dict[str, str], sid: str, **overrides: object) -> str:
    response = client.post(
        f"/v1/subjects/{sid}/payment-methods", json={**CARD, **overrides}, headers=headers
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_cards_are_listed_for_a_purpose_that_may_see_them(
    client: TestClient, admin: dict[str, str]
) -> None:
    sid = register(client, admin)
    first = _add(client, admin, sid)
    second = _add(client, admin, sid, brand="mastercard", last4="4444", processor_token="pm_B")
    listed = client.get(f"/v1/subjects/{sid}/payment-methods?purpose=service_provision",
                        headers=admin)  # fmt: skip
    assert listed.status_code == 200
    body = listed.json()
    assert {(m["id"], m["display"]) for m in body["payment_methods"]} == {
        (first, "Visa •••• 4242"),
        (second, "Mastercard •••• 4444"),
    }
    assert body["withheld"] == []
    marketing = client.get(
        f"/v1/subjects/{sid}/payment-methods?purpose=communication.marketing", headers=admin
    )
    assert marketing.status_code == 403  # the purpose may not see cards at all
    assert_error(marketing.json(), "purpose_refused")


def test_a_removed_card_is_no_longer_listed_and_its_token_is_deleted(
    client: TestClient, admin: dict[str, str], runtime: Runtime
) -> None:
    sid = register(client, admin)
    gone = _add(client, admin, sid)
    kept = _add(client, admin, sid, last4="1881", processor_token="pm_Kept")
    url = f"/v1/subjects/{sid}/payment-methods/{gone}"
    assert client.delete(url, headers=admin).status_code == 204
    listed = client.get(
        f"/v1/subjects/{sid}/payment-methods?purpose=service_provision", headers=admin
    ).json()["payment_methods"]
    assert [m["id"] for m in listed] == [kept]
    read = client.get(f"/v1/subjects/{sid}?purpose=service_provision", headers=admin).json()
    assert [m["id"] for m in read["payment_methods"]] == [kept]
    with runtime.sessions() as session:
        row = session.get(PaymentMethod, (uuid.UUID(sid), uuid.UUID(gone)))
        assert row is not None
        assert row.removed_at == runtime.clock.now()
        assert row.token == b""  # the processor token is gone, not just hidden
        assert session.scalar(
            select(PaymentMethod.token).where(PaymentMethod.id == uuid.UUID(kept))
        )
    entries = audit_entries(runtime, "payment_method.remove")
    assert [(str(e.subject_id), e.categories) for e in entries] == [(sid, ["account.payment"])]
    again = client.delete(url, headers=admin)  # removed already: nothing to remove
    assert again.status_code == 404
    assert_error(again.json(), "payment_method_not_found")
    other = register(client, admin, email="bea.quill@example.com")
    elsewhere = client.delete(f"/v1/subjects/{other}/payment-methods/{kept}", headers=admin)
    assert elsewhere.status_code == 404  # another person's card is not reachable
    assert_error(elsewhere.json(), "payment_method_not_found")


def test_the_export_shows_a_removed_cards_kept_record(
    client: TestClient, admin: dict[str, str], runtime: Runtime
) -> None:
    sid = register(client, admin)
    gone = _add(client, admin, sid)
    assert (
        client.delete(f"/v1/subjects/{sid}/payment-methods/{gone}", headers=admin).status_code
        == 204
    )
    doc = json.loads(b"".join(export.stream_json(runtime.sessions, ctx(runtime), uuid.UUID(sid))))
    assert doc["payment_methods"] == [
        {"processor": "example-pay", "processor_token": None, "brand": "visa", "last4": "4242",
         "expiry": "2031-07", "removed": True}
    ]  # fmt: skip
    with runtime.sessions() as session:
        page = export.render_html(session, ctx(runtime), uuid.UUID(sid))
    assert (
        "Visa ending 4242, expires 2031-07 (held by example-pay); removed from your account" in page
    )


def test_a_card_whose_expiry_month_has_passed_is_refused(
    client: TestClient, admin: dict[str, str], runtime: Runtime
) -> None:
    sid = register(client, admin)
    now = runtime.clock.now()  # 2026-03
    for month, year in ((1, 2001), (now.month - 1, now.year), (12, now.year - 1)):
        response = client.post(
            f"/v1/subjects/{sid}/payment-methods",
            json={**CARD, "exp_month": month, "exp_year": year},
            headers=admin,
        )
        assert response.status_code == 422, (month, year)
        assert_error(response.json(), "card_expired")
    _add(client, admin, sid, exp_month=now.month, exp_year=now.year)  # valid through its month
    listed = client.get(
        f"/v1/subjects/{sid}/payment-methods?purpose=service_provision", headers=admin
    ).json()["payment_methods"]
    assert len(listed) == 1
    assert audit_entries(runtime, "payment_method.add")[-1].subject_id == uuid.UUID(sid)
