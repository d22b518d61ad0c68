"""Events keyed for idempotency (decision 0037): a retry is a duplicate because its month's
unique key (owner, filing month, event id) already holds it — also when the retry comes in
the next month, from a device whose clock is a little wrong, after a sign-in linked the
device, or as a sign-in or sign-out. No receipts table."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import uuid6
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from safehold.events import people
from safehold.events.models import Login, SubjectDevice
from tests.integration.events.conftest import TIZEN, Person, Send, statuses, stored

MONTH_END = datetime(2026, 4, 1, tzinfo=UTC)  # March ends here
SECOND = timedelta(seconds=1)


def play(subject: uuid.UUID | None, at: datetime | None, **extra: object) -> dict[str, object]:
    event: dict[str, object] = {
        "event_id": str(uuid.uuid4()),
        "name": "channel.play",
        "properties": {"channel_id": "news-1", "duration_s": 60},
        **extra,
    }
    if subject is not None:
        event["subject_id"] = str(subject)
    if at is not None:
        event["timestamp"] = at.isoformat()
    return event


def test_a_retry_in_the_next_month_is_a_duplicate(
    session: Session, person: Person, send: Send
) -> None:
    """The acknowledgement of the first try was lost; the client retries after midnight."""
    ada = person()
    event = play(ada, MONTH_END - 2 * SECOND)
    first = send([event], sent_at=MONTH_END - SECOND, at=MONTH_END - SECOND)
    retry = send([event], sent_at=MONTH_END + 30 * SECOND, at=MONTH_END + 31 * SECOND)
    assert statuses(first) == ["accepted"]
    assert statuses(retry) == ["duplicate"]
    (row,) = stored(session, subject_id=ada)
    assert row["month"] == MONTH_END.date().replace(month=3)
    assert row["occurred_at"] == MONTH_END - 2 * SECOND


def test_a_slow_clock_files_the_event_in_its_own_month_on_every_try(
    session: Session, person: Person, send: Send
) -> None:
    """A box 40 s slow: its event happened at 00:00:20 in April but says 23:59:40 in March.
    Filed in March (what it sent), its time moved to March's last instant; each try's
    corrected time differs (transit), the key does not."""
    ada = person()
    event = play(ada, MONTH_END - 20 * SECOND)
    sends = [(MONTH_END - 10 * SECOND, 0.2), (MONTH_END + 5 * SECOND, 3.5)]
    answers = [
        statuses(send([event], sent_at=sent, at=sent + 40 * SECOND + timedelta(seconds=transit)))
        for sent, transit in sends
    ]
    assert answers == [["accepted"], ["duplicate"]]
    (row,) = stored(session, subject_id=ada)
    assert row["month"].month == 3
    assert row["occurred_at"] == MONTH_END - timedelta(microseconds=1)
    assert row["client_time"] == MONTH_END - 20 * SECOND


def test_a_clock_more_than_a_day_off_across_a_month_end_is_refused(
    session: Session, person: Person, send: Send
) -> None:
    ada = person()
    event = play(ada, MONTH_END - timedelta(hours=1))  # it says March; it was April 2, 01:00
    sent = MONTH_END - timedelta(minutes=59)
    at = sent + timedelta(days=2)
    assert statuses(send([event], sent_at=sent, at=at)) == ["clock_skew"]
    assert stored(session, subject_id=ada) == []


def test_without_a_timestamp_a_time_ordered_id_keeps_the_month(
    session: Session, person: Person, send: Send
) -> None:
    ada = person()
    made = MONTH_END - SECOND
    event_id = uuid.UUID(bytes=uuid6.uuid7().bytes)
    # An id made at ``made``: the top 48 bits are its Unix time in milliseconds.
    millis = int(made.timestamp() * 1000)
    event_id = uuid.UUID(int=(event_id.int & ((1 << 80) - 1)) | (millis << 80))
    event = play(ada, None, event_id=str(event_id))
    assert statuses(send([event], at=made + SECOND / 2)) == ["accepted"]
    assert statuses(send([event], at=MONTH_END + timedelta(minutes=5))) == ["duplicate"]
    (row,) = stored(session, subject_id=ada)
    assert row["month"].month == 3


def test_an_unset_clock_near_a_month_end_is_found_in_the_neighbouring_month(
    session: Session, person: Person, send: Send
) -> None:
    """A box whose clock says 1970 gives no month of its own: the corrected time's is used,
    and a try that lands on the other side of midnight looks in the other month too."""
    ada = person()
    box = datetime(1970, 1, 1, 0, 10, tzinfo=UTC)
    event = play(ada, box)
    # Sent 2 s after the event by the box's clock; received 1 s later, then 3 s later.
    first = send([event], sent_at=box + 2 * SECOND, at=MONTH_END + 2.5 * SECOND)
    retry = send([event], sent_at=box + 2 * SECOND, at=MONTH_END + SECOND)
    assert statuses(first) == ["accepted"]
    assert statuses(retry) == ["duplicate"]
    assert len(stored(session, subject_id=ada)) == 1


def test_an_anonymous_event_retried_after_the_sign_in_is_a_duplicate(
    session: Session, person: Person, send: Send
) -> None:
    ada = person()
    at = MONTH_END - timedelta(hours=2)
    anonymous = play(None, at, anonymous_id="tv-living-room")
    assert statuses(send([anonymous], at=at + SECOND)) == ["accepted"]
    login = {
        "event_id": str(uuid.uuid4()),
        "subject_id": str(ada),
        "name": "login",
        "anonymous_id": "tv-living-room",
        "timestamp": (at + 60 * SECOND).isoformat(),
    }
    assert statuses(send([login], at=at + 61 * SECOND)) == ["accepted"]
    (row,) = stored(session, subject_id=ada)  # the sign-in made it Ada's
    assert statuses(send([anonymous], at=at + 62 * SECOND)) == ["duplicate"]
    assert [r["event_id"] for r in stored(session, subject_id=ada)] == [row["event_id"]]


def test_retried_sign_ins_and_sign_outs_are_duplicates(
    session: Session, person: Person, send: Send
) -> None:
    ada = person()
    at = MONTH_END - timedelta(hours=3)

    def sign(name: str, when: datetime) -> dict[str, object]:
        return {
            "event_id": str(uuid.uuid4()),
            "subject_id": str(ada),
            "name": name,
            "timestamp": when.isoformat(),
        }

    login, logout = sign("login", at), sign("logout", at + timedelta(minutes=30))
    later = sign("login", at + timedelta(minutes=20))  # arrives late, dated before the logout
    assert statuses(send([login, logout], at=at + timedelta(hours=1))) == ["accepted"] * 2
    assert statuses(send([later], at=at + timedelta(hours=2))) == ["accepted"]
    again = send([login, logout], at=MONTH_END + timedelta(hours=1))
    assert statuses(again) == ["duplicate", "duplicate"]
    logins = session.scalars(select(Login).where(Login.subject_id == ada)).all()
    closed = {x.id: x.logged_out_at for x in logins}
    # The retried sign-out did not close the later login a second time.
    assert closed == {
        uuid.UUID(str(login["event_id"])): at + timedelta(minutes=30),
        uuid.UUID(str(later["event_id"])): None,
    }


def test_the_same_id_from_two_senders_is_two_events(
    session: Session, person: Person, send: Send
) -> None:
    """The key is per sender: one person's id cannot make another person's event a
    duplicate (nor reveal that it exists)."""
    ada, ben = person(), person("Ben Marlowe")
    at = MONTH_END - timedelta(days=3)
    shared = str(uuid.uuid4())
    outcomes = send([play(ada, at, event_id=shared)], at=at + SECOND)
    outcomes += send([play(ben, at, event_id=shared)], at=at + SECOND)
    assert statuses(outcomes) == ["accepted", "accepted"]
    assert len(stored(session, subject_id=ada)) == len(stored(session, subject_id=ben)) == 1


def test_no_receipts_table_remains(session: Session) -> None:
    assert "event_receipts" not in inspect(session.get_bind()).get_table_names()


def test_a_fast_clock_at_a_month_end_can_put_the_event_in_the_future(
    session: Session, person: Person, send: Send
) -> None:
    """A box 10 minutes fast dates an event of 23:52 in the next month (00:02); filed there,
    its time is that month's first instant, more than 5 minutes after the batch arrived at
    23:53: refused as in the future, like any event that would be stored after its receipt.
    The same event sent after midnight is stored, at the month's first instant."""
    ada = person()
    minute = 60 * SECOND
    event = play(ada, MONTH_END + 2 * minute)  # by the box's clock
    early = send([event], sent_at=MONTH_END + 3 * minute, at=MONTH_END - 7 * minute)
    assert statuses(early) == ["timestamp_in_future"]
    late = send([event], sent_at=MONTH_END + 13 * minute, at=MONTH_END + 3 * minute)
    assert statuses(late) == ["accepted"]
    (row,) = stored(session, subject_id=ada)
    assert row["occurred_at"] == MONTH_END


def test_a_device_deleted_by_retention_leaves_its_logins_without_it(
    session: Session, person: Person, send: Send
) -> None:
    """Logins point at the person's own device by (person, device); deleting the device
    (what the retention sweep does, through ``people.forget_devices``) keeps the logins."""
    ada = person()
    at = MONTH_END - timedelta(days=2)
    login = {"event_id": str(uuid.uuid4()), "subject_id": str(ada), "name": "login",
             "timestamp": at.isoformat()}  # fmt: skip
    send([login], context={"user_agent": TIZEN}, at=at + SECOND)
    (row,) = session.scalars(select(Login).where(Login.subject_id == ada))
    assert row.device_id is not None
    assert people.forget_devices(session, [(ada, row.device_id)]) == 1
    session.expire_all()
    (row,) = session.scalars(select(Login).where(Login.subject_id == ada))
    assert row.device_id is None
    assert session.scalars(select(SubjectDevice).where(SubjectDevice.subject_id == ada)).all() == []


def test_a_clock_a_day_fast_is_found_whichever_month_each_try_chose(
    session: Session, person: Person, send: Send
) -> None:
    """A box 25 hours fast: on the first try its timestamp is more than a day after the
    receipt (a clock not set: filed under the corrected time's month, March); on the retry
    less than a day (filed under its own month, April, moved to April's first instant). The
    retry looks in March too."""
    ada = person()
    hour = 3600 * SECOND
    event = play(ada, MONTH_END + 24 * hour)  # truly March 31, 23:00
    first = send([event], sent_at=MONTH_END + 24 * hour + SECOND, at=MONTH_END - hour + SECOND)
    retry = send([event], sent_at=MONTH_END + 25.5 * hour, at=MONTH_END + 0.5 * hour)
    assert statuses(first) == ["accepted"]
    assert statuses(retry) == ["duplicate"]
    (row,) = stored(session, subject_id=ada)
    assert row["month"].month == 3
