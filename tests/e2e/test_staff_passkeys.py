"""Staff passkeys through the pages, with a software authenticator: a member registers one
after a code + TOTP sign-in and then signs in with it alone; the attacks are refused — a
replayed answer or challenge, a counter that goes back, another site's answer, another
member's passkey or ceremony, a removed member's or a removed passkey, an expired request."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select

from safehold.access.rules import Actor
from safehold.clock import FrozenClock
from safehold.config import Settings
from safehold.db import transaction
from safehold.runtime import Runtime
from safehold.staff import passkeys, service
from safehold.staff.models import StaffMember, StaffPasskey, StaffPasskeyCeremony
from safehold.staff.rules import Role
from safehold.web import sessions as web_sessions
from tests.e2e import passkey_support as p
from tests.e2e import staff_support as s
from tests.e2e.conftest import MakeKey, audit_entries
from tests.integration.comms.smtp import SmtpServer
from tests.integration.comms.support import comms_settings

OFFICER = "priya.officer@example.com"
ANALYST = "ari.analyst@example.com"
SECRETS: dict[str, str] = {}


@pytest.fixture
def settings(tmp_path: Path, smtp: SmtpServer) -> Settings:
    return comms_settings(tmp_path, smtp)


def code_sign_in(client: TestClient, runtime: Runtime, smtp: SmtpServer, address: str) -> str:
    """A first sign-in with the codes: the TOTP secret enrolled."""
    attempt, secret = s.enrol(client, smtp, address)
    done = s.post_step(client, "totp", attempt, s.totp(runtime, secret))
    assert done.status_code == 303, done.text
    return secret


def codes_again(
    client: TestClient, runtime: Runtime, smtp: SmtpServer, address: str, secret: str
) -> Response:
    """A later sign-in with the codes (the TOTP one step on): the TOTP step's answer."""
    attempt = s.attempt_of(s.ask_code(client, address))
    code = s.post_step(client, "code", attempt, s.mailed_code(smtp, address))
    assert code.status_code == 303, code.text
    return s.post_step(client, "totp", attempt, s.totp(runtime, secret, seconds=30))


def member_with_passkey(
    client: TestClient, runtime: Runtime, smtp: SmtpServer, address: str, role: Role, name: str
) -> tuple[StaffMember, p.SoftPasskey]:
    """A member who signed in with the codes and registered a passkey; the client is then
    signed out. The member's TOTP secret is kept in ``SECRETS``."""
    member = s.invite(runtime, address, role, name)
    SECRETS[address] = code_sign_in(client, runtime, smtp, address)
    passkey = p.SoftPasskey()
    added = p.register(client, passkey)
    assert added.status_code == 303, added.text
    assert added.headers["location"] == "/admin/passkeys?done=added"
    client.cookies.clear()
    return member, passkey


def stored(runtime: Runtime, member_id: uuid.UUID) -> list[StaffPasskey]:
    with transaction(runtime.sessions) as session:
        found = passkeys.passkeys_of(session, member_id)
        session.expunge_all()
        return found


def test_member_registers_a_passkey_lists_it_and_signs_in_with_it_alone(
    client: TestClient, runtime: Runtime, smtp: SmtpServer, clock: FrozenClock
) -> None:
    member = s.invite(runtime, OFFICER, Role.PRIVACY_OFFICER, "Priya Officer")
    code_sign_in(client, runtime, smtp, OFFICER)
    assert "You have no passkey yet." in client.get("/admin/passkeys").text
    passkey = p.SoftPasskey()
    added = p.register(client, passkey, name="Work laptop")
    assert added.status_code == 303, added.text
    listing = client.get("/admin/passkeys?done=added")
    assert "Your passkey is registered: it signs you in from now on." in listing.text
    assert "Work laptop" in listing.text
    assert "internal" in listing.text
    [kept] = stored(runtime, member.id)
    assert (kept.credential_id, kept.transports, kept.last_used_at) == (
        passkey.credential_id, "internal", None,
    )  # fmt: skip

    client.cookies.clear()
    assert client.get("/admin", follow_redirects=False).status_code == 303  # signed out
    clock.advance(timedelta(minutes=1))
    done = p.sign_in(client, passkey)
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/admin"
    cookie = done.headers["set-cookie"]
    for attribute in ("safehold_admin=", "HttpOnly", "SameSite=strict", "Path=/admin"):
        assert attribute in cookie
    home = client.get("/admin")
    assert "Signed in as <strong>Priya Officer</strong>, privacy officer." in home.text
    [used] = stored(runtime, member.id)
    assert (used.sign_count, used.last_used_at) == (1, clock.now())
    actor = f"staff:{member.id}/privacy_officer"
    assert [e.outcome for e in audit_entries(runtime, "staff.passkey.add")] == ["ok"]
    signed_in = [e for e in audit_entries(runtime, "console.sign_in") if e.actor == actor]
    assert [e.outcome for e in signed_in] == ["ok", "ok"]  # the codes, then the passkey


def test_a_replayed_answer_or_challenge_and_a_counter_going_back_are_refused(
    client: TestClient, runtime: Runtime, smtp: SmtpServer
) -> None:
    member, passkey = member_with_passkey(client, runtime, smtp, OFFICER, Role.OWNER, "Olu Owner")
    ceremony, options = p.ceremony_of(p.begin_sign_in(client))
    answer = passkey.get(options)
    assert p.answer_sign_in(client, ceremony, answer).status_code == 303
    client.cookies.clear()
    replayed = p.answer_sign_in(client, ceremony, answer)
    assert replayed.status_code == 422
    assert "That passkey request was answered already: start again." in replayed.text
    assert "safehold_admin=" not in replayed.headers.get("set-cookie", "")

    fresh, _ = p.ceremony_of(p.begin_sign_in(client))  # an old answer to a new challenge
    assert p.answer_sign_in(client, fresh, answer).status_code == 422

    fresh, options = p.ceremony_of(p.begin_sign_in(client))  # a cloned key: counter not ahead
    behind = p.answer_sign_in(client, fresh, passkey.get(options, count=1))
    assert behind.status_code == 422
    assert "The passkey could not be verified: try again." in behind.text
    assert stored(runtime, member.id)[0].sign_count == 1
    assert client.get("/admin", follow_redirects=False).status_code == 303
    refused = [e for e in audit_entries(runtime, "console.sign_in") if e.outcome == "refused"]
    assert len(refused) == 2  # the two answers that reached verification


def test_an_answer_made_for_another_site_is_refused(
    client: TestClient, runtime: Runtime, smtp: SmtpServer
) -> None:
    member, passkey = member_with_passkey(client, runtime, smtp, OFFICER, Role.OWNER, "Olu Owner")
    passkey.origin = "https://safehold.example.com.phish.example.net"
    refused = p.sign_in(client, passkey)
    assert refused.status_code == 422
    assert client.get("/admin", follow_redirects=False).status_code == 303
    passkey.origin, passkey.rp_id = p.ORIGIN, "phish.example.net"  # signed for another RP id
    assert p.sign_in(client, passkey).status_code == 422

    again = codes_again(client, runtime, smtp, OFFICER, SECRETS[OFFICER])
    assert again.status_code == 303  # registering from a phishing page
    elsewhere = p.SoftPasskey(origin="https://phish.example.net")
    kept = p.register(client, elsewhere)
    assert kept.status_code == 422
    assert "The passkey could not be verified: try again." in kept.text
    assert len(stored(runtime, member.id)) == 1


def test_another_members_passkey_or_ceremony_is_refused(
    client: TestClient, runtime: Runtime, smtp: SmtpServer
) -> None:
    owner, owners_key = member_with_passkey(client, runtime, smtp, OFFICER, Role.OWNER, "Olu")
    analyst, analysts_key = member_with_passkey(client, runtime, smtp, ANALYST, Role.ANALYST, "Ari")

    analysts_key.user_handle = owner.id.bytes  # the analyst's key claiming to be the owner
    assert p.sign_in(client, analysts_key).status_code == 422
    assert client.get("/admin", follow_redirects=False).status_code == 303

    owners_key.user_handle = owner.id.bytes
    assert p.sign_in(client, owners_key).status_code == 303  # the owner, signed in
    listing = client.get("/admin/passkeys")
    page = client.post("/admin/passkeys/new", data={"csrf_token": s.token(listing)})
    ceremony, options = p.ceremony_of(page)  # the owner's registration ceremony …
    listing = client.get("/admin/passkeys")
    second, second_options = p.ceremony_of(
        client.post("/admin/passkeys/new", data={"csrf_token": s.token(listing)})
    )
    client.cookies.clear()
    analysts_key.user_handle = analyst.id.bytes
    assert p.sign_in(client, analysts_key).status_code == 303  # … answered as the analyst
    mine = client.get("/admin/passkeys")
    data = {"csrf_token": s.token(mine), "ceremony": ceremony, "name": "Stolen",
            "credential": p.SoftPasskey().create(options)}  # fmt: skip
    taken = client.post("/admin/passkeys/add", data=data)
    assert taken.status_code == 422
    assert "That passkey request is someone else&#39;s: start again." in taken.text

    client.cookies.clear()  # a signed-in member's ceremony does not start a session
    form = client.get("/admin/sign-in")
    data = {"csrf_token": s.token(form), "ceremony": second, "name": "Stolen",
            "credential": p.SoftPasskey().create(second_options), "next": "/admin"}  # fmt: skip
    no_session = client.post("/admin/sign-in/passkey/register", data=data, follow_redirects=False)
    assert no_session.status_code == 422
    assert "That passkey request is someone else&#39;s: start again." in no_session.text
    assert "safehold_admin=" not in no_session.headers.get("set-cookie", "")
    assert p.sign_in(client, analysts_key).status_code == 303

    [owners] = stored(runtime, owner.id)
    form = client.get("/admin/passkeys")
    removal = client.post(f"/admin/passkeys/{owners.id}/remove", data={"csrf_token": s.token(form)})
    assert removal.status_code == 404
    assert "You have no passkey with that id." in removal.text
    assert len(stored(runtime, owner.id)) == 1
    again = p.register(client, owners_key)  # the owner's authenticator, for the analyst
    assert again.status_code == 422
    assert "That passkey is registered already." in again.text


def test_a_removed_member_or_a_removed_passkey_signs_in_no_more(
    client: TestClient, runtime: Runtime, smtp: SmtpServer
) -> None:
    owner, owners_key = member_with_passkey(client, runtime, smtp, OFFICER, Role.OWNER, "Olu")
    analyst, analysts_key = member_with_passkey(client, runtime, smtp, ANALYST, Role.ANALYST, "Ari")
    assert p.sign_in(client, analysts_key).status_code == 303
    with transaction(runtime.sessions) as session:
        service.remove(session, service.context(runtime), ANALYST, actor=Actor("admin", "test"))
    assert client.get("/admin", follow_redirects=False).status_code == 303  # session ended
    refused = p.sign_in(client, analysts_key)
    assert refused.status_code == 422
    assert "That passkey is not one of this console&#39;s." in refused.text
    assert stored(runtime, analyst.id) == []

    assert p.sign_in(client, owners_key).status_code == 303
    [kept] = stored(runtime, owner.id)
    form = client.get("/admin/passkeys")
    removed = client.post(
        f"/admin/passkeys/{kept.id}/remove", data={"csrf_token": s.token(form)},
        follow_redirects=False,
    )  # fmt: skip
    assert removed.status_code == 303
    assert "The passkey is removed" in client.get(removed.headers["location"]).text
    client.cookies.clear()
    assert p.sign_in(client, owners_key).status_code == 422
    assert [e.outcome for e in audit_entries(runtime, "staff.passkey.remove")] == ["ok"]


def test_an_expired_or_unknown_request_and_a_malformed_answer_are_refused(
    client: TestClient, runtime: Runtime, smtp: SmtpServer, clock: FrozenClock
) -> None:
    _, passkey = member_with_passkey(client, runtime, smtp, OFFICER, Role.OWNER, "Olu Owner")
    ceremony, options = p.ceremony_of(p.begin_sign_in(client))
    clock.advance(timedelta(minutes=5))
    late = p.answer_sign_in(client, ceremony, passkey.get(options))
    assert late.status_code == 422
    assert "That passkey request has expired: start again." in late.text
    unknown = p.answer_sign_in(client, str(uuid.uuid4()), passkey.get(options))
    assert "That passkey request is unknown: start again." in unknown.text
    ceremony, _ = p.ceremony_of(p.begin_sign_in(client))
    for junk in ("{", '{"id": 1}', "[]", "x" * 20_000, ""):
        answered = p.answer_sign_in(client, ceremony, junk)
        assert answered.status_code == 422, junk
    with transaction(runtime.sessions) as session:
        web_sessions.purge_expired(session, now=clock.now() + timedelta(minutes=6))
        assert session.scalars(select(StaffPasskeyCeremony)).all() == []


def test_remove_passkeys_clears_a_members_passkeys_for_an_owners_reset(
    client: TestClient, runtime: Runtime, smtp: SmtpServer
) -> None:
    member, passkey = member_with_passkey(client, runtime, smtp, OFFICER, Role.OWNER, "Olu")
    with transaction(runtime.sessions) as session:
        assert passkeys.remove_passkeys(session, member.id) == 1
    assert stored(runtime, member.id) == []
    assert p.sign_in(client, passkey).status_code == 422


def test_a_break_glass_key_session_has_no_passkeys_page(
    client: TestClient, make_key: MakeKey
) -> None:
    key = make_key(["audit:read"])
    form = client.get("/admin/sign-in")
    signed = client.post(
        "/admin/sign-in", data={"csrf_token": s.token(form), "api_key": key},
        follow_redirects=False,
    )  # fmt: skip
    assert signed.status_code == 303
    page = client.get("/admin/passkeys")
    assert page.status_code == 404
    assert "an API key has none" in page.text


def test_a_passkey_not_unlocked_by_pin_or_biometric_is_refused(
    client: TestClient, runtime: Runtime, smtp: SmtpServer
) -> None:
    member, passkey = member_with_passkey(client, runtime, smtp, OFFICER, Role.OWNER, "Olu")
    passkey.verified = False  # user present only: a second factor missing
    assert p.sign_in(client, passkey).status_code == 422
    assert codes_again(client, runtime, smtp, OFFICER, SECRETS[OFFICER]).status_code == 303
    unverified = p.register(client, p.SoftPasskey(verified=False))
    assert unverified.status_code == 422
    assert len(stored(runtime, member.id)) == 1


def test_a_member_has_at_most_ten_passkeys(
    client: TestClient, runtime: Runtime, smtp: SmtpServer, clock: FrozenClock
) -> None:
    member = s.invite(runtime, OFFICER, Role.OWNER, "Olu Owner")
    code_sign_in(client, runtime, smtp, OFFICER)
    with transaction(runtime.sessions) as session:
        for n in range(10):
            session.add(StaffPasskey(
                id=uuid.uuid4(), member_id=member.id, credential_id=bytes([n]) * 16,
                public_key=b"-", sign_count=0, transports="", name=f"Key {n}",
                created_at=clock.now(), last_used_at=None,
            ))  # fmt: skip
    listing = client.get("/admin/passkeys")
    refused = client.post("/admin/passkeys/new", data={"csrf_token": s.token(listing)})
    assert refused.status_code == 409
    assert "You have 10 passkeys: remove one before adding another." in refused.text


def test_passkey_challenges_from_one_client_are_rate_limited(client: TestClient) -> None:
    form = client.get("/admin/sign-in")
    data = {"csrf_token": s.token(form), "next": "/admin"}
    answers = [client.post("/admin/sign-in/passkey", data=data).status_code for _ in range(61)]
    assert answers[:60] == [200] * 60
    assert answers[60] == 429
    late = p.answer_sign_in(client, str(uuid.uuid4()), "{}")
    assert late.status_code == 429
    assert "Too many tries. Try again in" in late.text


def test_an_owner_removes_a_members_passkeys_from_the_staff_page(
    client: TestClient, runtime: Runtime, smtp: SmtpServer, clock: FrozenClock
) -> None:
    """For a lost device: every passkey of the member goes, their sessions end, audited."""
    desk = TestClient(client.app, raise_server_exceptions=False)
    member, passkey = member_with_passkey(
        desk, runtime, smtp, OFFICER, Role.PRIVACY_OFFICER, "Priya Officer"
    )
    clock.advance(timedelta(minutes=1))
    assert p.sign_in(desk, passkey).status_code == 303
    owner = s.invite(runtime, "olive.owner@example.com", Role.OWNER, "Olive Owner")
    code_sign_in(client, runtime, smtp, "olive.owner@example.com")
    page = f"/admin/staff/{member.id}"
    assert "Remove their passkeys" in client.get(page).text
    done = s.post_form(client, page, f"{page}/passkey-reset", {})
    assert done.status_code == 303, done.text
    assert stored(runtime, member.id) == []
    assert desk.get("/admin", follow_redirects=False).status_code == 303  # signed out at once
    desk.cookies.clear()
    assert p.sign_in(desk, passkey).status_code == 422
    [entry] = audit_entries(runtime, f"staff.passkey_reset:{member.id}")
    assert entry.actor == f"staff:{owner.id}/owner"
    assert "Remove their passkeys" not in client.get(page).text
    assert s.post_form(client, "/admin/staff", f"{page}/passkey-reset", {}).status_code == 409
