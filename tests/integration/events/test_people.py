"""Anonymous device ids before sign-in, linking at login, unlinking at logout, and erasure
of everything events recorded about a person."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from safehold.events import history, service
from safehold.events.models import AnonymousLink, Login, SubjectDevice
from safehold.subjects.models import Subject
from tests.integration.events.conftest import ACTOR, TIZEN, Person, Send, statuses, stored

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def anon(
    name: str, at: datetime, device: str = "tv-living-room", **props: object
) -> dict[str, object]:
    return {
        "event_id": str(uuid.uuid4()),
        "anonymous_id": device,
        "name": name,
        "timestamp": at.isoformat(),
        "properties": props,
    }


def login(subject: uuid.UUID, at: datetime, device: str | None = "tv-living-room",
          name: str = "login") -> dict[str, object]:  # fmt: skip
    return {
        "event_id": str(uuid.uuid4()),
        "subject_id": str(subject),
        "anonymous_id": device,
        "name": name,
        "timestamp": at.isoformat(),
    }


def test_anonymous_events_become_the_persons_when_they_sign_in(
    session: Session, person: Person, send: Send
) -> None:
    ada = person()
    long_ago = NOW - timedelta(days=3)
    before = NOW - timedelta(minutes=20)
    outcomes = send(
        [
            anon("guide.browse", long_ago, section="films"),
            anon("guide.search", before, query="Quillfeather", results=2),
            anon("channel.play", before, device="someone-elses-phone", channel_id="x"),
        ],
        context={"user_agent": TIZEN},
    )
    assert statuses(outcomes) == ["accepted"] * 3
    assert outcomes[1].details == {"dropped_properties": ["query"]}  # no key to encrypt under
    assert all(r["subject_id"] is None for r in stored(session))

    send([login(ada, NOW - timedelta(minutes=10))], context={"user_agent": TIZEN})
    mine = stored(session, subject_id=ada)
    assert [r["name"] for r in mine] == ["guide.search"]  # within the window; not 3 days ago
    assert mine[0]["anonymous_index"] is None
    assert mine[0]["personal"] is None
    others = stored(session, subject_id=None)
    assert sorted(r["name"] for r in others) == ["channel.play", "guide.browse"]
    # The device the anonymous events came from is now one of Ada's devices (counted once).
    (device,) = session.scalars(select(SubjectDevice).where(SubjectDevice.subject_id == ada))
    assert device.device_type == "smart_tv"
    assert device.first_seen_at == before

    # Later anonymous events from the linked device are Ada's, personal properties included.
    send([anon("guide.search", NOW - timedelta(minutes=5), query="news", results=9)])
    assert [r["name"] for r in stored(session, subject_id=ada)] == ["guide.search"] * 2
    assert stored(session, subject_id=ada)[-1]["personal"] is not None


def test_a_logout_unlinks_the_device(session: Session, person: Person, send: Send) -> None:
    ada = person()
    send(
        [login(ada, NOW - timedelta(hours=2)), login(ada, NOW - timedelta(hours=1), name="logout")]
    )
    assert session.scalar(select(func.count()).select_from(AnonymousLink)) == 0
    send([anon("channel.play", NOW - timedelta(minutes=5), channel_id="x")])
    assert stored(session, subject_id=ada) == []
    (login_row,) = session.scalars(select(Login).where(Login.subject_id == ada))
    assert login_row.logged_out_at == NOW - timedelta(hours=1)


def test_sign_ins_need_a_person(send: Send) -> None:
    assert statuses(send([{"anonymous_id": "tv", "name": "login"}])) == ["subject_required"]


def test_a_linked_device_of_an_erased_person_records_nothing(
    session: Session, person: Person, send: Send
) -> None:
    ada = person()
    send([login(ada, NOW - timedelta(hours=1))])
    session.execute(update(Subject).where(Subject.id == ada).values(status="erased"))
    late = send([anon("channel.play", NOW - timedelta(minutes=1), channel_id="x")])
    assert statuses(late) == ["subject_erased"]
    assert stored(session) == []


def test_erasure_removes_every_month_and_keeps_the_link(
    session: Session, person: Person, send: Send
) -> None:
    ada, bo = person(), person("Bo Tumbleweed")
    months = [NOW - timedelta(days=70), NOW - timedelta(days=35), NOW - timedelta(days=1)]
    for at in months:
        send(
            [
                {"subject_id": str(ada), "name": "channel.play", "timestamp": at.isoformat()},
                {"subject_id": str(bo), "name": "channel.play", "timestamp": at.isoformat()},
            ],
            context={"user_agent": TIZEN},
        )
    send([login(ada, NOW - timedelta(hours=1))], context={"user_agent": TIZEN})
    assert len(stored(session, subject_id=ada)) == 3
    erased = history.erase(session, ada)
    assert (erased.events, erased.logins, erased.devices) == (3, 1, 1)
    assert stored(session, subject_id=ada) == []
    assert len(stored(session, subject_id=bo)) == 3
    assert session.scalar(select(func.count()).where(AnonymousLink.subject_id == ada)) == 1


def test_reads_decrypt_personal_properties_for_an_allowed_purpose(
    session: Session, person: Person, send: Send, ctx: service.Context
) -> None:
    ada = person()
    send(
        [
            {"subject_id": str(ada), "name": "guide.search",
             "properties": {"query": "gardening", "results": 1}},
        ],
        context={"user_agent": TIZEN, "ip": "203.0.113.5"},
    )  # fmt: skip
    view = history.recent_events(session, ctx, ada, purpose="service_provision", actor=ACTOR)
    (event,) = view.events
    assert event.properties == {"query": "gardening", "results": 1}
    assert event.ip == "203.0.113.0/24"
    assert event.device is not None
    assert event.device["device_type"] == "smart_tv"
    ctx.vault.shred(session, ada, ["usage_events"])
    after = history.recent_events(session, ctx, ada, purpose="service_provision", actor=ACTOR)
    assert after.events[0].properties == {"results": 1}
    assert [w.rule for w in after.erased] == ["vault.erased"]
