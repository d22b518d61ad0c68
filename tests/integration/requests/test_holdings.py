"""What "What we hold" (/me) and the export's ``held`` say is computed from what is stored
(issue 17, item 4): for every category of the default policy, storing data of that category
makes it held in both, and a person with nothing of it stored is told "nothing"."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from safehold.access.rules import Actor
from safehold.center import service as center
from safehold.db import transaction
from safehold.events import service as events
from safehold.events.schemas import BatchIn
from safehold.requests import export, holdings
from safehold.runtime import Runtime
from safehold.subjects import payments
from safehold.subjects import rules as subject_rules
from safehold.subjects import service as subjects
from tests.deployment import usable_person
from tests.integration.requests.support import ctx

ACTOR = Actor("api_key", "holdings-test")
TIZEN = (
    "Mozilla/5.0 (SMART-TV; LINUX; Tizen 5.5) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/3.0 Chrome/69.0.3497.106 TV Safari/537.36"
)
Store = Callable[[Session, Runtime, uuid.UUID], None]


def _sctx(runtime: Runtime) -> subjects.Context:
    return subjects.Context(runtime.vault, runtime.policy, runtime.clock, runtime.book)


def _event(
    session: Session, runtime: Runtime, sid: uuid.UUID, name: str, properties: dict[str, Any],
    context: dict[str, Any] | None = None,
) -> None:  # fmt: skip
    at = runtime.clock.now() - timedelta(minutes=5)
    batch = BatchIn.model_validate({"context": context, "events": [{
        "event_id": str(uuid.uuid4()), "subject_id": str(sid), "name": name,
        "timestamp": at.isoformat(), "properties": properties,
    }]})  # fmt: skip
    ectx = events.Context(runtime.vault, runtime.policy, runtime.clock, runtime.book)
    outcomes = events.ingest(session, ectx, batch, actor=ACTOR, received_at=runtime.clock.now())
    assert [o.status for o in outcomes] == ["accepted"]


def _rectify(session: Session, runtime: Runtime, sid: uuid.UUID, **given: Any) -> None:
    contact = subject_rules.contact(**given)
    subjects.rectify(session, _sctx(runtime), sid, actor=ACTOR, source="operator", contact=contact)


def _phone(session: Session, runtime: Runtime, sid: uuid.UUID) -> None:
    _rectify(session, runtime, sid, phone="+44 20 7946 0958")


def _address(session: Session, runtime: Runtime, sid: uuid.UUID) -> None:
    address = {"street": "1 Example Lane", "postal_code": "EX1 1AA", "city": "Exampleton",
               "country": "GB"}  # fmt: skip
    _rectify(session, runtime, sid, address=address)


def _card(session: Session, runtime: Runtime, sid: uuid.UUID) -> None:
    payments.add(
        session, _sctx(runtime), sid, actor=ACTOR, processor="example-pay",
        token="pm_tok_example", brand="visa", last4="4242", exp_month=1, exp_year=2030,
    )  # fmt: skip


def _login(session: Session, runtime: Runtime, sid: uuid.UUID) -> None:
    _event(session, runtime, sid, "login", {"method": "password"})


def _action(session: Session, runtime: Runtime, sid: uuid.UUID) -> None:
    _event(session, runtime, sid, "app.open", {"screen": "home"})


def _device(session: Session, runtime: Runtime, sid: uuid.UUID) -> None:
    _event(session, runtime, sid, "app.open", {"screen": "home"}, {"user_agent": TIZEN})


def _ip(session: Session, runtime: Runtime, sid: uuid.UUID) -> None:
    _event(session, runtime, sid, "login", {"method": "password"}, {"ip": "203.0.113.77"})


# How to store data of each category of the default policy, with nothing of the others
# added that the test looks at. A category the policy gains without an entry here fails.
STORE: dict[str, Store] = {
    "account.phone": _phone,
    "account.address": _address,
    "account.payment": _card,
    "usage.login": _login,
    "usage.action": _action,
    "device.info": _device,
    "network.ip": _ip,
}
AT_REGISTRATION = {"account.name", "account.email"}  # required: held from the start


def _shown(runtime: Runtime, sid: uuid.UUID) -> tuple[dict[str, bool], dict[str, bool]]:
    """(held per category on /me, held per category in the JSON export)."""
    with transaction(runtime.sessions) as session:
        view = center.overview(session, center.context(runtime), sid, actor=ACTOR)
    on_me = {c.id: c.held for c in view.categories}
    body = b"".join(export.stream_json(runtime.sessions, ctx(runtime), sid))
    in_export = {c["id"]: c["held"] for c in json.loads(body)["categories"]}
    return on_me, in_export


def test_every_category_of_the_policy_has_a_way_to_be_stored(runtime: Runtime) -> None:
    assert set(runtime.policy.category_ids) == set(STORE) | AT_REGISTRATION


@pytest.mark.parametrize("category", sorted(STORE))
def test_storing_a_category_makes_it_held_on_me_and_in_the_export(
    runtime: Runtime, category: str
) -> None:
    with transaction(runtime.sessions) as session:
        sid = usable_person(session, _sctx(runtime), "Wren Halloway", "wren")
    on_me, in_export = _shown(runtime, sid)
    assert on_me[category] is False
    assert in_export[category] is False
    assert on_me == in_export
    with transaction(runtime.sessions) as session:
        STORE[category](session, runtime, sid)
    on_me, in_export = _shown(runtime, sid)
    assert on_me[category] is True, f"/me says nothing of {category} is held"
    assert in_export[category] is True, f"the export says nothing of {category} is held"
    assert on_me == in_export
    assert on_me[next(iter(AT_REGISTRATION))] is True


def test_shortened_ips_on_sign_ins_and_events_are_held_and_counted(runtime: Runtime) -> None:
    with transaction(runtime.sessions) as session:
        sid = usable_person(session, _sctx(runtime), "Wren Halloway", "wren")
        STORE["network.ip"](session, runtime, sid)  # a sign-in
        _event(session, runtime, sid, "app.open", {"screen": "home"}, {"ip": "203.0.113.78"})
        held = holdings.holdings(session, runtime.policy, sid)
    # the sign-in record and the event each keep the shortened address
    assert held.of("network.ip", holdings.IPS) == 2
    with transaction(runtime.sessions) as session:
        view = center.overview(session, center.context(runtime), sid, actor=ACTOR)
    network = next(c for c in view.categories if c.id == "network.ip")
    assert network.count == "2 shortened IP addresses (with your sign-ins and events)"
    body = json.loads(b"".join(export.stream_json(runtime.sessions, ctx(runtime), sid)))
    assert body["counts"]["ip_addresses"] == 2
    assert {e["ip"] for e in body["events"]} == {"203.0.113.0/24"}
