"""The privacy center's details form: each wrong field gets its own message, only what
changes is corrected, and a correction never deletes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from safehold.center import rules
from safehold.policy import load_policy
from safehold.requests import links
from safehold.requests.errors import ExportLinkInvalid
from tests.conftest import DEFAULT_POLICY

HELD = {"name": "Ida Marsh", "email": "ida.marsh@example.com", "phone": "+442079460958",
        "street": "", "postal_code": "", "city": "", "country": ""}  # fmt: skip


def form(**changes: str) -> dict[str, str | None]:
    return {**HELD, **changes}


def test_nothing_changed_corrects_nothing() -> None:
    checked = rules.check_details(form(), HELD)
    assert (checked.values, checked.errors) == ({}, {})


def test_only_the_changed_fields_are_corrected_in_their_stored_form() -> None:
    checked = rules.check_details(form(email=" Ida.M@Example.NET ", phone="+44 20 7946 0958"), HELD)
    assert checked.errors == {}
    assert checked.values == {"email": "ida.m@example.net"}


def test_each_wrong_field_has_its_own_message_and_is_not_corrected() -> None:
    checked = rules.check_details(
        form(name="  ", email="ida@", phone="12", city="Exampleton"), HELD
    )
    assert set(checked.errors) == {"name", "email", "phone", "street", "postal_code", "country"}
    assert checked.values == {}


def test_an_emptied_phone_or_address_is_removed_and_nothing_else_is() -> None:
    """Issue 20, item 11: the optional details can be removed, not only replaced."""
    checked = rules.check_details(form(phone=""), HELD)
    assert (checked.values, checked.errors, checked.removed) == ({}, {}, ["phone"])
    address = {"street": "2 Imaginary Road", "postal_code": "EX1 1EX", "city": "Exampleton",
               "country": "GB"}  # fmt: skip
    emptied = dict.fromkeys(address, "")
    checked = rules.check_details(form(**emptied), {**HELD, **address})
    assert (checked.values, checked.errors, checked.removed) == ({}, {}, ["address"])
    nothing_held = rules.check_details(form(phone=""), {**HELD, "phone": ""})
    assert nothing_held.removed == []


def test_a_removal_waits_for_the_rest_of_the_form_to_be_right() -> None:
    checked = rules.check_details(form(phone="", name=" "), HELD)
    assert checked.removed == []
    assert set(checked.errors) == {"name"}


def test_an_address_is_corrected_whole_with_a_country_code() -> None:
    address = {"street": "2 Imaginary Road", "postal_code": "EX1 1EX", "city": "Exampleton"}
    assert rules.check_details(form(**address, country="England"), HELD).errors == {
        "country": "Use the two-letter country code, like GB or DE."
    }
    checked = rules.check_details(form(**address, country="gb"), HELD)
    assert checked.values == {**address, "country": "GB"}


def test_too_long_a_value_is_refused_next_to_its_field() -> None:
    checked = rules.check_details(form(city="x" * (rules.MAX_FIELD + 1)), HELD)
    assert "under" in checked.errors["city"]


def test_a_certificate_link_key_cannot_read_an_export_link() -> None:
    index_key = bytes(range(32))
    request_id, until = uuid.uuid4(), datetime(2030, 1, 1, tzinfo=UTC)
    export_token = links.make_token(links.derive_key(index_key), request_id, until)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(ExportLinkInvalid):
        links.read_token(rules.certificate_key(index_key), export_token, now)
    own = links.make_token(rules.certificate_key(index_key), request_id, until)
    assert links.read_token(rules.certificate_key(index_key), own, now).request_id == request_id


def test_retention_is_said_in_words() -> None:
    policy = load_policy(DEFAULT_POLICY)
    words = rules.retention_words(policy.retention_rule_for("account.email"))
    assert words == "90 days after the account is closed, then deleted"


def test_a_look_alike_address_is_refused_next_to_its_field() -> None:
    for look_alike in ("\u0456da.marsh@example.com", "\uff49da.marsh@example.com"):
        checked = rules.check_details(form(email=look_alike), HELD)
        assert checked.errors == {"email": rules.CONFUSABLE_EMAIL}
        assert checked.values == {}
