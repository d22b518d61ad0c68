"""Late data over HTTP (issue 17, item 10): a day finalised before its data arrived is
rebuilt when the data comes, and its report counts it; a backdated event never has its
address in the database once it is past its retention."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from safehold.analytics import jobs
from safehold.client import new_event_id
from safehold.events import ips, storage
from safehold.events.models import Login
from safehold.runtime import Runtime
from safehold.subjects import service as subjects
from tests.deployment import usable_person
from tests.e2e.conftest import MakeKey, bearer

EVENING = datetime(2026, 2, 2, 20, tzinfo=UTC)
DAY = "start=2026-02-02&end=2026-02-02"


def _people(runtime: Runtime, n: int) -> list[uuid.UUID]:
    ctx = subjects.Context(runtime.vault, runtime.policy, runtime.clock)
    with runtime.sessions() as session:
        ids = [usable_person(session, ctx, f"Viewer {i}", f"viewer{i}") for i in range(n)]
        session.commit()
    return ids


def _event(who: uuid.UUID, at: datetime, name: str = "channel.play") -> dict[str, Any]:
    props = {"channel_id": "news-1"} if name == "channel.play" else {}
    return {"event_id": str(new_event_id()), "subject_id": str(who), "name": name,
            "timestamp": at.isoformat(), "properties": props}  # fmt: skip


def _send(client: TestClient, key: dict[str, str], runtime: Runtime, events: list[Any],
          ip: str | None = None) -> None:  # fmt: skip
    body: dict[str, Any] = {"sent_at": runtime.clock.now().isoformat(), "events": events}
    if ip is not None:
        body["context"] = {"ip": ip}
    answer = client.post("/v1/events", json=body, headers=key)
    assert answer.status_code == 202, answer.text
    assert answer.json()["accepted"] == len(events), answer.text


def _roll_up(runtime: Runtime) -> None:
    for _ in range(20):
        if not jobs.run(runtime):
            return
    raise AssertionError("the roll-ups never ran out of work")


def test_a_finalised_day_is_rebuilt_when_late_events_for_it_arrive(
    client: TestClient, runtime: Runtime, make_key: MakeKey
) -> None:
    clock = runtime.clock
    clock.set(EVENING + timedelta(hours=1))  # type: ignore[attr-defined]
    ids = _people(runtime, 11)
    sender = bearer(make_key(["events:write"], name="iptv-backend"))
    reader = bearer(make_key(["analytics:read"], ["platform_improvement"]))
    _send(client, sender, runtime, [_event(ids[0], EVENING)])
    clock.set(datetime(2026, 2, 12, tzinfo=UTC))  # type: ignore[attr-defined]  # past the grace
    _roll_up(runtime)
    (row,) = client.get(f"/v1/analytics/active?{DAY}", headers=reader).json()["rows"]
    assert (row["status"], row["people"]) == ("suppressed", None)  # one person: final, < k
    # Ten set-top boxes come back online four days later with that evening's viewing.
    clock.set(datetime(2026, 2, 16, 8, tzinfo=UTC))  # type: ignore[attr-defined]
    offline = [_event(who, EVENING + timedelta(minutes=i)) for i, who in enumerate(ids[1:])]
    _send(client, sender, runtime, offline)
    (row,) = client.get(f"/v1/analytics/active?{DAY}", headers=reader).json()["rows"]
    assert row["status"] == "pending"  # reopened: the old number is not released again
    _roll_up(runtime)
    (row,) = client.get(f"/v1/analytics/active?{DAY}", headers=reader).json()["rows"]
    assert (row["status"], row["people"]) == ("released", 11)
    csv = client.get(f"/v1/analytics/active?{DAY}&format=csv", headers=reader).text
    assert csv.splitlines()[1] == "day,2026-02-02,2026-02-02,11,released"


def test_a_backdated_events_address_is_never_in_the_database(
    client: TestClient, runtime: Runtime, make_key: MakeKey
) -> None:
    now = runtime.clock.now()
    (ada,) = _people(runtime, 1)
    sender = bearer(make_key(["events:write"], name="iptv-backend"))
    old, recent = _event(ada, now - timedelta(days=40)), _event(ada, now - timedelta(days=10))
    sign_in = _event(ada, now - timedelta(days=40), "login")
    _send(client, sender, runtime, [old, recent, sign_in], ip="198.51.100.23")
    e = storage.EVENTS
    with runtime.sessions() as session:  # right after the 202, before any maintenance round
        rows = session.execute(select(e)).mappings()
        stored = {r["event_id"]: ips.unseal(session, runtime.vault, ada, r)[0] for r in rows}
        assert stored == {uuid.UUID(old["event_id"]): None,
                          uuid.UUID(recent["event_id"]): "198.51.100.0/24"}  # fmt: skip
        assert session.scalars(select(e.c.ip)).all() == [None, None]  # never plain (0043)
        assert session.scalars(select(Login.ip_sealed)).all() == [None]
        assert session.scalars(select(Login.ip)).all() == [None]
