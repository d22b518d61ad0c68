"""Addresses sealed per month (decision 0043, "IP addresses"), SQLite and PostgreSQL: a known
person's address, on an event or a sign-in, is stored only sealed under their key for
``network_ip@YYYY-MM``; it reads back through the history and the export; the month's end
(plus the ``network_ip`` period) destroys it, a copy kept from before included; erasure
destroys it; anonymous events keep none; ``retention.month_keys`` names a plain one."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from safehold.db import transaction
from safehold.events import history, ips, storage
from safehold.events import jobs as event_jobs
from safehold.events import rules as event_rules
from safehold.events import service as events
from safehold.events.models import Login
from safehold.events.schemas import BatchIn
from safehold.promises import service as promises
from safehold.requests import export
from safehold.requests import jobs as request_jobs
from safehold.retention import jobs
from safehold.runtime import Runtime
from safehold.vault import rules as vault_rules
from safehold.vault.errors import UnknownKeyVersion
from safehold.vault.keyring import KeyRing, format_env_value
from safehold.vault.models import DataKey
from safehold.vault.providers import EnvKeyProvider
from safehold.vault.service import Vault
from tests.integration.requests.support import STAFF, ctx, person, verified
from tests.integration.retention.test_epochs import month_keys

IP_FEBRUARY, IP_MARCH = "network_ip@2026-02", "network_ip@2026-03"
ADDRESS, NETWORK = "203.0.113.77", "203.0.113.0/24"
# 2026-03-01 (February's end) + P30D + the daily run's grace passed; March's end not yet.
PAST_FEBRUARY = datetime(2026, 4, 3, tzinfo=UTC)
LOGIN_COLUMNS = ("subject_id", "ip", "ip_sealed", "ip_class", "ip_whole")


def send(
    runtime: Runtime, sid: uuid.UUID | None, ago: timedelta, name: str = "channel.play",
    vault: Vault | None = None,
) -> None:  # fmt: skip
    at = runtime.clock.now()
    who = {"subject_id": str(sid)} if sid is not None else {"anonymous_id": "tv-lounge-1"}
    event = {"event_id": str(uuid.uuid4()), **who, "name": name,
             "timestamp": (at - ago).isoformat(), "properties": {}}  # fmt: skip
    batch = BatchIn.model_validate(
        {"sent_at": at.isoformat(), "context": {"ip": ADDRESS}, "events": [event]}
    )
    context = events.Context(vault or runtime.vault, runtime.policy, runtime.clock, runtime.book)
    with transaction(runtime.sessions) as session:
        [outcome] = events.ingest(session, context, batch, actor=STAFF, received_at=at)
    assert outcome.status == "accepted", outcome


def rows(runtime: Runtime, sid: uuid.UUID | None = None) -> list[dict[str, Any]]:
    """Every stored address row, events then logins, as the database holds them."""
    e = storage.EVENTS
    with runtime.sessions() as session:
        query = select(e).order_by(e.c.occurred_at)
        if sid is not None:
            query = query.where(e.c.subject_id == sid)
        found = [dict(r) for r in session.execute(query).mappings()]
        logins = select(Login).order_by(Login.logged_in_at)
        if sid is not None:
            logins = logins.where(Login.subject_id == sid)
        found += [
            {
                c: getattr(login, c)
                for c in ("subject_id", "ip", "ip_sealed", "ip_class", "ip_whole")
            }
            for login in session.scalars(logins)
        ]
    return found


def opened(runtime: Runtime, row: dict[str, Any], vault: Vault | None = None) -> str:
    with runtime.sessions() as session:
        address, gone = ips.unseal(session, vault or runtime.vault, row["subject_id"], row)
    return "erased" if gone else str(address)


def test_a_known_persons_address_is_sealed_under_its_month_and_reads_back(
    runtime: Runtime,
) -> None:
    sid = person(runtime)
    send(runtime, sid, timedelta(minutes=5))
    send(runtime, sid, timedelta(minutes=4), "login")
    send(runtime, None, timedelta(minutes=3))  # a device no one has signed in on
    stored = rows(runtime)
    anonymous = [r for r in stored if r["subject_id"] is None]
    assert [(r["ip"], r["ip_sealed"]) for r in anonymous] == [(None, None)]  # none kept
    mine = [r for r in stored if r["subject_id"] == sid]
    assert len(mine) == 2  # the event and the sign-in
    for row in mine:
        assert row["ip"] is None
        assert row["ip_class"] == IP_MARCH
        assert row["ip_whole"] is False
        assert ADDRESS.encode()[:9] not in row["ip_sealed"]  # the raw column is no address
        assert opened(runtime, row) == NETWORK
    assert IP_MARCH in runtime.vault.provider.epochs()
    with runtime.sessions() as session:
        key = session.get(DataKey, (sid, IP_MARCH))
        assert key is not None
        assert key.kek_version == IP_MARCH  # wrapped by the month's own key

    context = events.Context(runtime.vault, runtime.policy, runtime.clock, runtime.book)
    with transaction(runtime.sessions) as session:
        seen = history.recent_events(session, context, sid, purpose="service_provision",
                                     actor=STAFF, category="usage.action")  # fmt: skip
        logins = history.login_history(session, context, sid, purpose="service_provision",
                                       actor=STAFF)  # fmt: skip
    assert [e.ip for e in seen.events] == [NETWORK]
    assert [v.ip for v in logins.logins] == [NETWORK]
    document = json.loads(b"".join(export.stream_json(runtime.sessions, ctx(runtime), sid)))
    assert [e["ip"] for e in document["events"]] == [NETWORK]
    assert [login["ip"] for login in document["logins"]] == [NETWORK]
    assert month_keys(runtime).held


def test_the_months_end_destroys_its_addresses_in_any_copy_and_spares_the_next_month(
    runtime: Runtime,
) -> None:
    sid = person(runtime)
    send(runtime, sid, timedelta(days=3))  # filed under February
    send(runtime, sid, timedelta(days=3), "login")  # signed in in February
    send(runtime, sid, timedelta(minutes=5))  # March
    kept = rows(runtime, sid)  # a copy from before, as a backup would hold it
    assert sorted(r["ip_class"] for r in kept) == [IP_FEBRUARY, IP_FEBRUARY, IP_MARCH]
    with runtime.sessions() as session:
        wrapped = {k.retention_class: k.wrapped_key for k in session.scalars(select(DataKey))}

    runtime.clock.set(PAST_FEBRUARY)  # type: ignore[attr-defined]
    late = month_keys(runtime)  # February's key outlived its end: broken until the run
    assert not late.held
    assert IP_FEBRUARY in late.examples
    report = jobs.run(runtime)
    assert report.lines[("network.ip", IP_FEBRUARY)].action == "destroy_epoch"
    assert runtime.vault.provider.epochs() == [IP_MARCH]
    assert {opened(runtime, r) for r in kept if r["ip_class"] == IP_FEBRUARY} == {"erased"}
    assert [opened(runtime, r) for r in kept if r["ip_class"] == IP_MARCH] == [NETWORK]
    aad = vault_rules.key_aad(sid, IP_FEBRUARY)
    with pytest.raises(UnknownKeyVersion):
        runtime.vault.provider.unwrap(IP_FEBRUARY, wrapped[IP_FEBRUARY], aad)
    assert month_keys(runtime).held


def test_erasure_destroys_the_persons_address_keys(runtime: Runtime) -> None:
    sid = person(runtime)
    send(runtime, sid, timedelta(days=3), "login")
    send(runtime, sid, timedelta(minutes=5))
    kept = rows(runtime, sid)
    certificate = request_jobs.erase(runtime.sessions, ctx(runtime), verified(runtime, sid))
    assert "network_ip" in certificate["erased"]["retention_classes_shredded"]
    with runtime.sessions() as session:
        left = session.scalars(select(DataKey.retention_class).where(DataKey.subject_id == sid))
        assert not [k for k in left if k.startswith("network_ip")]
    assert {opened(runtime, r) for r in kept} == {"erased"}


def test_without_month_keys_the_address_is_still_sealed_and_the_promise_says_why(
    runtime: Runtime,
) -> None:
    env = EnvKeyProvider(format_env_value(KeyRing.generate()))
    vault = Vault(env, runtime.clock)
    sid = person(runtime)
    send(runtime, sid, timedelta(minutes=5), vault=vault)
    [row] = rows(runtime, sid)
    assert (row["ip"], row["ip_class"]) == (None, "network_ip")  # the ordinary key
    assert opened(runtime, row, vault) == NETWORK
    found = month_keys(runtime, env)
    assert not found.held
    assert found.count == 2  # the provider, and the address under an ordinary key


def test_a_plain_address_breaks_the_month_key_promise(runtime: Runtime) -> None:
    sid = person(runtime)
    send(runtime, sid, timedelta(minutes=5))
    send(runtime, sid, timedelta(minutes=4), "login")
    assert month_keys(runtime).held
    table = storage.month_table(event_rules.partition_name(event_rules.month_start(
        runtime.clock.now())))  # fmt: skip
    with transaction(runtime.sessions) as session:  # as stored before migration 0043
        session.execute(update(table).values(ip=NETWORK))
        session.execute(update(Login).values(ip=NETWORK))
    found = month_keys(runtime)
    assert not found.held
    assert found.count == 2
    with transaction(runtime.sessions) as session:  # what expire_ips does at its period's end
        session.execute(update(table).values(ips.NO_IP))
        session.execute(update(Login).values(ips.NO_IP))
    assert month_keys(runtime).held


def check(runtime: Runtime, check_id: str) -> Any:
    with runtime.sessions() as session:
        results = promises.run(
            session, runtime.policy, runtime.clock.now(), keys=runtime.vault.provider
        )
    return next(r for r in results if r.id == check_id)


def test_the_address_checks_see_sealed_addresses_by_their_marker(runtime: Runtime) -> None:
    sid = person(runtime)
    send(runtime, sid, timedelta(minutes=5))
    send(runtime, sid, timedelta(minutes=4), "login")
    assert check(runtime, "minimisation.ip_shortened").held
    assert check(runtime, "retention.ip_addresses").held
    table = storage.month_table(event_rules.partition_name(event_rules.month_start(
        runtime.clock.now())))  # fmt: skip
    with transaction(runtime.sessions) as session:  # marked whole under `mode: truncate`
        session.execute(update(table).values(ip_whole=True))
    whole = check(runtime, "minimisation.ip_shortened")
    assert (whole.held, whole.count) == (False, 1)
    with transaction(runtime.sessions) as session:
        session.execute(update(table).values(ip_whole=False))

    runtime.clock.set(runtime.clock.now() + timedelta(days=32))  # type: ignore[attr-defined]
    overdue = check(runtime, "retention.ip_addresses")  # P30D + grace passed, not cleared
    assert (overdue.held, overdue.count) == (False, 2)
    with transaction(runtime.sessions) as session:
        assert event_jobs.expire_ips(session, runtime.policy, runtime.clock.now()) == 2
    assert check(runtime, "retention.ip_addresses").held
    assert [r["ip_sealed"] for r in rows(runtime, sid)] == [None, None]
