"""Migration 0040 keeps every row: the tables keyed by (subject_id, id) from then on, the
restriction joined to its request on the person, the address look-up filled from
``subjects`` (one account per address still refused by the database), the sign-in tables'
rows of people and of staff. Written in the shape before it, both backends, and back down."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, insert, inspect, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import IntegrityError

from safehold import migrate
from safehold.comms.models import Message, OutboxItem
from safehold.db import make_engine
from safehold.requests.models import DataRequest
from safehold.retention.models import LegalHold
from safehold.sharing.models import Propagation
from safehold.staff.models import StaffMember
from safehold.subjects.models import PaymentMethod, Restriction, Subject
from safehold.web.models import SignInCode, WebSession

AT = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
ADA, GRACE = uuid.uuid4(), uuid.uuid4()
REQUEST, RESTRICTION, HOLD, MESSAGE, ITEM, CARD, NOTICE, MEMBER, CODE = (
    uuid.uuid4() for _ in range(9)
)
ADA_INDEX, GRACE_INDEX = "a1" * 32, "b2" * 32
KEYED = ("data_requests", "legal_holds", "outbox_items", "payment_methods", "propagations")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = make_url(f"sqlite+pysqlite:///{tmp_path_factory.mktemp('keys') / 'k.db'}")
    else:
        make: Callable[[], URL] = request.getfixturevalue("scratch_postgres")
        url = make()
    found = make_engine(url)
    migrate.upgrade(found, "0034")
    yield found
    found.dispose()


def _rows(conn: Connection) -> None:
    """One row of each table the migration re-keys, as the code before it wrote them."""
    person = {
        "status": "active", "policy_version_shown": "v1", "created_at": AT,
        "last_activity_at": AT, "closed_at": None, "erased_at": None, "phone_index": None,
    }  # fmt: skip
    conn.execute(insert(Subject.__table__), [
        {"id": ADA, "email_index": ADA_INDEX, **person},
        {"id": GRACE, "email_index": GRACE_INDEX, **person},
        {"id": uuid.uuid4(), "email_index": None, **person},
    ])  # fmt: skip
    conn.execute(insert(DataRequest.__table__).values(
        id=REQUEST, subject_id=ADA, kind="restriction", channel="api", made_by="staff",
        actor="api_key:k1", status="completed", received_at=AT,
        deadline_at=AT + timedelta(days=30), code_attempts=0, codes_sent=0, progress={},
    ))  # fmt: skip
    conn.execute(insert(Restriction.__table__).values(
        id=RESTRICTION, subject_id=ADA, request_id=REQUEST, reason="accuracy_contested",
        applied_at=AT, applied_by="api_key:k1",
    ))  # fmt: skip
    conn.execute(insert(LegalHold.__table__).values(
        id=HOLD, subject_id=ADA, categories=["account.payment"], reason="an invoice dispute",
        legal_basis="tax law", until=AT + timedelta(days=365), created_at=AT,
        created_by="api_key:k1",
    ))  # fmt: skip
    conn.execute(insert(Message.__table__).values(
        id=MESSAGE, kind="service", purpose="communication.service", audience="ids",
        subject_template="Hello", text_template="Hello", created_at=AT, created_by="api_key:k1",
        policy_version="v1",
    ))  # fmt: skip
    conn.execute(insert(OutboxItem.__table__).values(
        id=ITEM, message_id=MESSAGE, subject_id=ADA, purpose="communication.service",
        status="queued", attempts=0, next_attempt_at=AT, mail_message_id="<m1@example.com>",
        created_at=AT, updated_at=AT,
    ))  # fmt: skip
    conn.execute(insert(PaymentMethod.__table__).values(
        id=CARD, subject_id=ADA, processor="examplepay", token=b"t", brand=b"b", last4=b"l",
        expiry=b"e", created_at=AT,
    ))  # fmt: skip
    conn.execute(insert(Propagation.__table__).values(
        id=NOTICE, subject_id=ADA, recipient_id="examplepay", event="erasure",
        categories=["account.payment"], state="queued", created_at=AT, created_by="system",
        due_at=AT, attempts=0,
    ))  # fmt: skip
    conn.execute(insert(StaffMember.__table__).values(
        id=MEMBER, email_index="c3" * 32, name="Lin Example", role="owner", invited_by="cli",
        created_at=AT,
    ))  # fmt: skip
    session = {"created_at": AT, "last_seen_at": AT, "expires_at": AT + timedelta(hours=1)}
    conn.execute(insert(WebSession.__table__).values(
        id="d4" * 32, kind="person", subject_id=ADA, **session
    ))  # fmt: skip
    conn.execute(insert(WebSession.__table__).values(
        id="e5" * 32, kind="staff", staff_member_id=MEMBER, staff_role="owner", **session
    ))  # fmt: skip
    code = {"code_hash": "f6" * 32, "created_at": AT, "expires_at": AT + timedelta(minutes=15)}
    conn.execute(insert(SignInCode.__table__).values(id=CODE, subject_id=ADA, **code))
    conn.execute(insert(SignInCode.__table__).values(
        id=uuid.uuid4(), address_index="07" * 32, **code
    ))  # fmt: skip


def _kept(conn: Connection) -> dict[str, Any]:
    one = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in KEYED}  # noqa: S608
    return {
        **one,
        "restriction": conn.execute(
            select(Restriction.__table__.c.subject_id, Restriction.__table__.c.request_id)
        ).one(),
        "sessions": conn.execute(text("SELECT count(*) FROM web_sessions")).scalar(),
        "codes": conn.execute(text("SELECT count(*) FROM web_sign_in_codes")).scalar(),
        "people": conn.execute(text("SELECT count(*) FROM subjects")).scalar(),
    }


def test_every_row_is_kept_and_keyed_by_person(engine: Engine) -> None:
    with engine.begin() as conn:
        _rows(conn)
        before = _kept(conn)
    migrate.upgrade(engine, "0040")
    schema = inspect(engine)
    for table in (*KEYED, "restrictions"):
        assert schema.get_pk_constraint(table)["constrained_columns"] == ["subject_id", "id"]
    joins = {fk["referred_table"]: fk["constrained_columns"] for fk in
             schema.get_foreign_keys("restrictions")}  # fmt: skip
    assert joins["data_requests"] == ["subject_id", "request_id"]
    for table in ("web_sessions", "web_sign_in_codes"):
        assert "subjects" not in {fk["referred_table"] for fk in schema.get_foreign_keys(table)}
    with engine.begin() as conn:
        assert _kept(conn) == before
        lookup = set(conn.execute(text("SELECT email_index, subject_id FROM email_lookup")))
        if conn.dialect.name == "sqlite":
            lookup = {(i, uuid.UUID(s)) for i, s in lookup}
        assert lookup == {(ADA_INDEX, ADA), (GRACE_INDEX, GRACE)}
    with engine.begin() as conn, pytest.raises(IntegrityError):  # one account per address
        conn.execute(
            text("INSERT INTO email_lookup (email_index, subject_id) VALUES (:i, :s)"),
            {"i": ADA_INDEX, "s": GRACE if conn.dialect.name == "postgresql" else GRACE.hex},
        )
    migrate.downgrade(engine, "0034")
    assert inspect(engine).get_pk_constraint("data_requests")["constrained_columns"] == ["id"]
    with engine.begin() as conn:
        assert _kept(conn) == before
        indexes = set(conn.execute(text("SELECT email_index FROM subjects")).scalars())
        assert indexes == {ADA_INDEX, GRACE_INDEX, None}
