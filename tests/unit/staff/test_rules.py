"""The roles table and the TOTP second factor: what each role may do, the drift window,
and replayed codes refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from safehold.access.rules import ANY_PURPOSE, SCOPES, holds, purpose_allowed
from safehold.console.rules import nav
from safehold.staff import rules
from safehold.staff.rules import Role

AT = datetime(2026, 12, 7, 12, 0, 15, tzinfo=UTC)
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def code_at(when: datetime) -> str:
    return pyotp.TOTP(SECRET).at(when)


def test_every_role_is_in_the_table_and_holds_only_real_scopes() -> None:
    assert set(rules.ROLES) == set(Role)
    for grant in rules.ROLES.values():
        assert grant.scopes <= set(SCOPES)


def test_the_owner_holds_everything() -> None:
    owner = rules.grant("owner")
    assert owner.scopes == set(SCOPES)
    assert purpose_allowed(list(owner.purposes), "communication.marketing")


def test_a_support_agent_looks_people_up_for_service_provision_only() -> None:
    agent = rules.grant("support_agent")
    assert agent.scopes == {"subjects:read", "requests:open"}
    assert purpose_allowed(list(agent.purposes), "service_provision")
    for other in ("platform_improvement", "communication.marketing", "legal_obligation"):
        assert not purpose_allowed(list(agent.purposes), other)
    assert not holds(agent.scopes, "requests:execute")  # it opens requests, never erases
    assert not holds(agent.scopes, "requests:write")


def test_an_analyst_never_reads_a_person() -> None:
    analyst = rules.grant("analyst")
    assert analyst.scopes == {"analytics:read"}
    assert [p.path for p in nav(analyst.scopes)] == ["/admin", "/admin/analytics"]


def test_an_auditor_only_reads() -> None:
    auditor = rules.grant("auditor")
    assert auditor.scopes == {"audit:read", "ropa:read"}
    assert auditor.purposes == ()
    assert not any(s.endswith(":write") or s.endswith(":admin") for s in auditor.scopes)


def test_a_privacy_officer_answers_requests_publishes_and_reads_the_audit() -> None:
    officer = rules.grant("privacy_officer")
    assert {"holds:write", "policy:admin", "audit:read", "ropa:read"} <= set(officer.scopes)
    assert holds(officer.scopes, "requests:open")
    assert holds(officer.scopes, "requests:execute")
    assert "keys:admin" not in officer.scopes
    assert ANY_PURPOSE not in officer.purposes


def test_an_unknown_role_grants_nothing() -> None:
    assert rules.grant("superuser").scopes == frozenset()
    assert rules.grant("superuser").purposes == ()
    with pytest.raises(rules.UnknownRole, match="support_agent"):
        rules.role_of("superuser")


def test_a_code_of_now_signs_in_and_names_its_step() -> None:
    checked = rules.check_totp(SECRET, code_at(AT), AT, None)
    assert checked.step == pyotp.TOTP(SECRET).timecode(AT)
    assert not checked.replayed


@pytest.mark.parametrize("offset", [-30, 30])
def test_a_clock_one_step_off_still_signs_in(offset: int) -> None:
    assert rules.check_totp(SECRET, code_at(AT + timedelta(seconds=offset)), AT, None).step


@pytest.mark.parametrize("offset", [-60, 60, 3600])
def test_a_code_two_steps_away_is_refused(offset: int) -> None:
    checked = rules.check_totp(SECRET, code_at(AT + timedelta(seconds=offset)), AT, None)
    assert checked.step is None
    assert not checked.replayed


def test_a_used_code_is_refused_as_replayed_and_so_is_an_older_one() -> None:
    first = rules.check_totp(SECRET, code_at(AT), AT, None)
    assert first.step is not None
    again = rules.check_totp(SECRET, code_at(AT), AT + timedelta(seconds=5), first.step)
    assert again == rules.TotpCheck(None, replayed=True)
    older = rules.check_totp(SECRET, code_at(AT - timedelta(seconds=30)), AT, first.step)
    assert older == rules.TotpCheck(None, replayed=True)
    later = AT + timedelta(seconds=30)
    assert rules.check_totp(SECRET, code_at(later), later, first.step).step == first.step + 1


@given(st.text(alphabet="0123456789", min_size=6, max_size=6))
def test_a_wrong_code_never_signs_in(code: str) -> None:
    window = {code_at(AT + timedelta(seconds=30 * k)) for k in (-1, 0, 1)}
    checked = rules.check_totp(SECRET, code, AT, None)
    assert (checked.step is not None) == (code in window)


def test_enrolment_uri_names_the_issuer_and_the_secret() -> None:
    secret = rules.new_totp_secret()
    assert len(secret) == 32
    uri = rules.provisioning_uri(secret, "Ada Quill (Example TV)", "Example TV Safehold")
    assert uri.startswith("otpauth://totp/")
    assert f"secret={secret}" in uri
    assert pyotp.parse_uri(uri).now() == pyotp.TOTP(secret).now()


def test_typed_totp_takes_six_digits_and_spaces() -> None:
    assert rules.typed_totp(" 123 456 ") == "123456"
    assert rules.typed_totp("12345") is None
    assert rules.typed_totp("12345a") is None
    assert rules.typed_totp(None) is None
