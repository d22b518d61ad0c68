"""SAFEHOLD_RECIPIENT_WEBHOOKS: one JSON value; wrong ones stop start-up with one line that
never quotes a URL or a secret."""

from __future__ import annotations

import json
import os

import pytest

from safehold.config import SettingsError, load_settings
from safehold.sharing import webhooks

SECRET = webhooks.new_secret()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [k for k in os.environ if k.startswith("SAFEHOLD_")]:
        monkeypatch.delenv(name)


def test_unset_means_every_recipient_is_manual() -> None:
    assert load_settings().webhooks == {}


def test_a_valid_value_is_parsed_and_the_secret_is_not_in_the_repr(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    value = {
        "payment_processor": {"url": "https://hooks.example.net/safehold", "secret": SECRET},
        "email_delivery": {"url": "http://127.0.0.1:9000/hook", "secret": SECRET},
    }
    monkeypatch.setenv("SAFEHOLD_RECIPIENT_WEBHOOKS", json.dumps(value))
    settings = load_settings()
    assert settings.webhooks["payment_processor"].url == "https://hooks.example.net/safehold"
    assert settings.webhooks["email_delivery"].secret == SECRET
    assert SECRET not in repr(settings)
    assert SECRET not in repr(settings.webhooks)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("not json at all", "is not JSON"),
        ('["https://hooks.example.net"]', "is not a JSON object"),
        ('{"Payment Processor": {"url": "https://x.example.net", "secret": "%s"}}',
         "not a recipient id"),
        ('{"payment_processor": {"url": "https://x.example.net"}}', "exactly 'url' and 'secret'"),
        ('{"payment_processor": {"url": "http://hooks.example.net/h", "secret": "%s"}}',
         "must be https://"),
        ('{"payment_processor": {"url": "ftp://hooks.example.net/h", "secret": "%s"}}',
         "must be https://"),
        ('{"payment_processor": {"url": "https://x.example.net", "secret": "hunter2-hunter2"}}',
         "starts with 'whsec_'"),
    ],
)  # fmt: skip
def test_a_wrong_value_is_one_line_without_url_or_secret(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: str
) -> None:
    monkeypatch.setenv("SAFEHOLD_RECIPIENT_WEBHOOKS", value.replace("%s", SECRET))
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith("SAFEHOLD_RECIPIENT_WEBHOOKS:")
    assert expected in message
    assert "\n" not in message
    for secret_part in (SECRET, "hunter2", "hooks.example.net", "x.example.net"):
        assert secret_part not in message
