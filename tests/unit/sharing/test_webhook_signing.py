"""Signed notices follow the Standard Webhooks specification: the spec's own test vector,
tampering, staleness, secret formats."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safehold.sharing import webhooks
from safehold.sharing.webhooks import VerificationFailed, WebhookSecretError

# The specification's published test vector (standard-webhooks/standard-webhooks).
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TS = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
NOW = 1_772_443_800


def test_the_specifications_test_vector() -> None:
    assert webhooks.sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TS, VECTOR_BODY) == VECTOR_SIGNATURE
    headers = {
        "webhook-id": VECTOR_ID,
        "webhook-timestamp": str(VECTOR_TS),
        "webhook-signature": VECTOR_SIGNATURE,
    }
    assert webhooks.verify(VECTOR_SECRET, headers, VECTOR_BODY, now=VECTOR_TS) == VECTOR_ID


@given(body=st.binary(max_size=200), notice_id=st.uuids())
def test_a_signed_notice_verifies_and_any_change_breaks_it(body: bytes, notice_id: object) -> None:
    secret = webhooks.new_secret()
    headers = webhooks.headers(secret, str(notice_id), NOW, body)
    assert webhooks.verify(secret, headers, body, now=NOW + 10) == str(notice_id)
    with pytest.raises(VerificationFailed):
        webhooks.verify(secret, headers, body + b" ", now=NOW)
    with pytest.raises(VerificationFailed):
        webhooks.verify(secret, {**headers, "webhook-id": "other"}, body, now=NOW)
    with pytest.raises(VerificationFailed):
        webhooks.verify(secret, {**headers, "webhook-timestamp": str(NOW + 1)}, body, now=NOW)
    with pytest.raises(VerificationFailed):
        webhooks.verify(webhooks.new_secret(), headers, body, now=NOW)


def test_a_replay_after_the_tolerance_is_refused() -> None:
    secret = webhooks.new_secret()
    headers = webhooks.headers(secret, "n1", NOW, b"{}")
    webhooks.verify(secret, headers, b"{}", now=NOW + webhooks.TOLERANCE)
    with pytest.raises(VerificationFailed, match="tolerance"):
        webhooks.verify(secret, headers, b"{}", now=NOW + webhooks.TOLERANCE + 1)
    with pytest.raises(VerificationFailed, match="tolerance"):
        webhooks.verify(secret, headers, b"{}", now=NOW - webhooks.TOLERANCE - 1)


def test_missing_or_malformed_headers_are_refused() -> None:
    secret = webhooks.new_secret()
    good = webhooks.headers(secret, "n1", NOW, b"{}")
    for broken in (
        {k: v for k, v in good.items() if k != "webhook-signature"},
        {**good, "webhook-timestamp": "yesterday"},
        {**good, "webhook-signature": "v1,AAAA"},
    ):
        with pytest.raises(VerificationFailed):
            webhooks.verify(secret, broken, b"{}", now=NOW)


def test_one_of_several_signatures_may_match_during_secret_rotation() -> None:
    old, new = webhooks.new_secret(), webhooks.new_secret()
    both = f"{webhooks.sign(old, 'n1', NOW, b'{}')} {webhooks.sign(new, 'n1', NOW, b'{}')}"
    headers = {"webhook-id": "n1", "webhook-timestamp": str(NOW), "webhook-signature": both}
    assert webhooks.verify(new, headers, b"{}", now=NOW) == "n1"


@pytest.mark.parametrize(
    "secret",
    [
        "",
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "whsec_not base64!",
        "whsec_c2hvcnQ=",
        "whsec_" + "A" * 120,
    ],
)
def test_bad_secrets_are_refused_without_quoting_them(secret: str) -> None:
    with pytest.raises(WebhookSecretError) as caught:
        webhooks.secret_key(secret)
    if secret.removeprefix("whsec_"):
        assert secret.removeprefix("whsec_") not in str(caught.value)


def test_new_secrets_are_valid_and_random() -> None:
    made = {webhooks.new_secret() for _ in range(50)}
    assert len(made) == 50
    assert all(len(webhooks.secret_key(s)) == webhooks.SECRET_BYTES for s in made)


def test_the_body_names_categories_and_ids_never_values() -> None:
    body = webhooks.NoticeBody(
        notice_id="7b0c3c2e-0000-4000-8000-000000000001",
        webhook_type="subject.erased",
        action="erase",
        subject_id="7b0c3c2e-0000-4000-8000-000000000002",
        recipient_id="payment_processor",
        categories=("account.email", "account.payment"),
        created_at=datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
        respond_by=datetime(2026, 4, 2, 9, 30, tzinfo=UTC),
        controller_name="IPTV Reseller",
        controller_email="privacy@example.com",
    ).encode()
    document = json.loads(body)
    assert document["type"] == "subject.erased"
    assert document["timestamp"] == "2026-03-02T09:30:00Z"
    assert document["data"] == {
        "notice_id": "7b0c3c2e-0000-4000-8000-000000000001",
        "subject_id": "7b0c3c2e-0000-4000-8000-000000000002",
        "recipient": "payment_processor",
        "action": "erase",
        "categories": ["account.email", "account.payment"],
        "respond_by": "2026-04-02T09:30:00Z",
        "controller": {"name": "IPTV Reseller", "email": "privacy@example.com"},
    }
