"""The reports and objections over HTTP: scopes, purposes, formats, the audit entry."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from safehold.access.models import AuditEntry
from safehold.analytics import jobs, rules
from safehold.runtime import Runtime
from tests.e2e.conftest import MakeKey, bearer
from tests.integration.analytics.helpers import Raw, people, store

PLATFORM = ("smart_tv", "Tizen", "6", "Samsung Internet", "2")


def test_reports_are_k_anonymous_audited_and_come_as_json_csv_svg(
    client: TestClient, runtime: Runtime, make_key: MakeKey
) -> None:
    with runtime.sessions() as session:
        ids = people(session, 14)
        at = datetime(2026, 2, 10, 20, tzinfo=UTC)
        events = [Raw(p, "channel.play", at, PLATFORM) for p in range(12)]
        events += [Raw(12, "vod.play", at, PLATFORM), Raw(13, "app.error", at, PLATFORM)]
        store(session, ids, events)
        session.commit()
    runtime.clock.set(datetime(2026, 3, 9, tzinfo=UTC))  # type: ignore[attr-defined]
    while jobs.run(runtime):
        pass
    key = bearer(make_key(["analytics:read"], ["platform_improvement"]))
    answer = client.get("/v1/analytics/features?month=2026-02", headers=key)
    assert answer.status_code == 200, answer.text
    rows = [(r["values"]["event"], r["people"], r["events"]) for r in answer.json()["rows"]]
    # vod.play and app.error (1 person each) fold into "(other)": 2 < 10 people, so the
    # smallest released cell (channel.play, 12) is folded in too (complementary suppression).
    assert rows == [("(other)", 14, 14)]
    csv = client.get("/v1/analytics/compatibility?month=2026-02&format=csv", headers=key)
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[1].startswith("smart_tv,Tizen,6,Samsung Internet,2,14,14")
    svg = client.get("/v1/analytics/active?start=2026-02-10&end=2026-02-11&format=svg",
                     headers=key)  # fmt: skip
    assert svg.headers["content-type"] == "image/svg+xml"
    assert "<svg" in svg.text
    with runtime.sessions() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action.like("analytics.report.%"))
        ).all()
        assert {e.purpose for e in entries} == {rules.PURPOSE}
        assert all(e.subject_id is None for e in entries)
        assert len(entries) == 3
    wrong = bearer(make_key(["analytics:read"], ["service_provision"]))
    assert client.get("/v1/analytics/features?month=2026-02", headers=wrong).status_code == 403
    assert client.get("/v1/analytics/features?month=2026-13", headers=key).status_code == 422
    soon = client.get(f"/v1/analytics/errors?month={date(2026, 3, 1):%Y-%m}", headers=key)
    assert soon.status_code == 409
    assert soon.json()["error"]["code"] == ("analytics.period_not_final")


def test_objection_is_recorded_and_refuses_the_purpose(
    client: TestClient, runtime: Runtime, make_key: MakeKey
) -> None:
    with runtime.sessions() as session:
        (person,) = people(session, 1)
        session.commit()
    key = bearer(make_key(["subjects:write"], ["service_provision"]))
    url = f"/v1/subjects/{person}/objections"
    first = client.post(url, json={"purpose": "platform_improvement"}, headers=key)
    assert first.status_code == 201, first.text
    again = client.post(url, json={"purpose": "platform_improvement"}, headers=key)
    assert again.json()["objected_at"] == first.json()["objected_at"]
    refused = client.post(url, json={"purpose": "service_provision"}, headers=key)
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "analytics.not_objectable"
    from safehold.policy.rules import decide
    from safehold.subjects import service as subjects

    with runtime.sessions() as session:
        state = subjects.state_of(session, subjects.get(session, person))
        assert "platform_improvement" in state.objected
        decision = decide(runtime.policy, "platform_improvement", None, state, aggregate=True)
        assert decision.refused_rule == "purposes.platform_improvement.objection"


def test_an_objection_is_withdrawn_by_delete_and_the_purpose_applies_again(
    client: TestClient, runtime: Runtime, make_key: MakeKey
) -> None:
    from safehold.subjects import service as subjects

    with runtime.sessions() as session:
        (person,) = people(session, 1)
        session.commit()
    key = bearer(make_key(["subjects:write"], ["service_provision"]))
    url = f"/v1/subjects/{person}/objections"
    first = client.post(url, json={"purpose": "platform_improvement"}, headers=key)
    assert first.status_code == 201, first.text
    gone = client.delete(f"{url}/platform_improvement", headers=key)
    assert gone.status_code == 200, gone.text
    assert gone.json()["id"] == first.json()["id"]
    assert gone.json()["withdrawn_at"] is not None
    with runtime.sessions() as session:
        state = subjects.state_of(session, subjects.get(session, person))
        assert "platform_improvement" not in state.objected
    again = client.delete(f"{url}/platform_improvement", headers=key)
    assert again.status_code == 404
    assert again.json()["error"]["code"] == "analytics.objection_not_found"
    wrong = client.delete(f"{url}/service_provision", headers=key)
    assert wrong.status_code == 422
    assert wrong.json()["error"]["code"] == "analytics.not_objectable"
    reopened = client.post(url, json={"purpose": "platform_improvement"}, headers=key)
    assert reopened.status_code == 201
    assert reopened.json()["id"] != first.json()["id"]  # a new objection, the old one kept
    assert reopened.json()["withdrawn_at"] is None
    with runtime.sessions() as session:
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.subject_id == person)
        ).all()
    assert actions.count("subject.object") == 2
    assert actions.count("subject.object.withdraw") == 1


@pytest.mark.parametrize(
    "query",
    [
        "features?month=0000-01",  # year 0 does not exist
        "features?month=9999-12",  # the next month would
        "features?month=%C2%B2026-02",  # "²026": a digit to str.isdigit, not to int()
        "active?start=9999-12-30&end=9999-12-31",
        "logins?start=0001-01-01&end=0001-01-02",  # the first year: no day before it
    ],
)
def test_dates_at_the_ends_of_the_calendar_are_422_not_500(
    client: TestClient, make_key: MakeKey, query: str
) -> None:
    key = bearer(make_key(["analytics:read"], ["platform_improvement"]))
    answer = client.get(f"/v1/analytics/{query}", headers=key)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] in {"invalid_input", "validation_failed"}
