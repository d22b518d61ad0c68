"""Key epochs, without a database: names, policy look-ups, and the providers' epoch KEKs."""

from __future__ import annotations

import base64
import json
import secrets
import stat
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from safehold.clock import FrozenClock
from safehold.policy import load_policy
from safehold.vault import epochs
from safehold.vault.errors import (
    DecryptionFailed,
    EpochsUnsupported,
    KeyProviderError,
    UnknownKeyVersion,
)
from safehold.vault.keyring import KeyRing, format_env_value
from safehold.vault.providers import EnvKeyProvider, FileKeyProvider, MemoryKeyProvider
from tests.conftest import DEFAULT_POLICY

AAD = b"subject+class@month"
DEK = bytes(range(32))
MARCH = "usage_events@2026-03"


def test_names_parse_back_and_ordinary_classes_are_not_epochs() -> None:
    assert epochs.name("usage_events", date(2026, 3, 1)) == MARCH
    assert epochs.parse(MARCH) == ("usage_events", date(2026, 3, 1))
    assert epochs.parse("usage_events") is None
    assert epochs.parse("usage_events@march") is None
    assert epochs.base_class(MARCH) == epochs.base_class("usage_events") == "usage_events"
    assert epochs.in_classes(MARCH, ["usage_events"])
    assert epochs.in_classes(MARCH, None)
    assert not epochs.in_classes(MARCH, ["usage_event"])


def test_only_classes_counted_from_collection_have_epochs_and_an_end() -> None:
    policy = load_policy(DEFAULT_POLICY)
    periods = epochs.collected_periods(policy)
    assert periods["usage_events"] == "P13M"
    assert periods["login_history"] == "P12M"
    assert "account_contact" not in periods
    assert "device_info" not in periods
    assert epochs.end_of(policy, MARCH) == datetime(2027, 5, 1, tzinfo=UTC)
    assert epochs.end_of(policy, "account_contact@2026-03") is None
    assert epochs.end_of(policy, "usage_events") is None


def test_the_key_class_opens_the_epoch_once_and_the_env_provider_has_none() -> None:
    policy = load_policy(DEFAULT_POLICY)
    clock = FrozenClock(datetime(2026, 3, 2, tzinfo=UTC))
    provider = MemoryKeyProvider()
    chooser = epochs.Epochs(provider, clock)
    assert chooser.key_class(policy, "usage_events", date(2026, 3, 1)) == MARCH
    assert provider.epochs() == [MARCH]
    provider.destroy_epoch(MARCH)  # the memo vouches for a month not yet past its end
    assert chooser.key_class(policy, "usage_events", date(2026, 3, 1)) == MARCH
    assert provider.epochs() == []
    clock.advance(timedelta(days=500))  # past its end: asked afresh every time
    assert chooser.key_class(policy, "usage_events", date(2026, 3, 1)) == MARCH
    assert provider.epochs() == [MARCH]
    assert chooser.key_class(policy, "account_contact", date(2026, 3, 1)) == "account_contact"
    assert chooser.key_class(policy, "usage_events", None) == "usage_events"

    env = EnvKeyProvider(format_env_value(KeyRing.generate()))
    assert not env.destroys_epochs()
    assert env.epochs() == []
    assert epochs.Epochs(env, clock).key_class(policy, "usage_events", date(2026, 3, 1)) == (
        "usage_events"
    )
    with pytest.raises(EpochsUnsupported, match="cannot destroy one month's key"):
        env.open_epoch(MARCH)
    note = epochs.startup_note(env, "SAFEHOLD_KEK")
    assert note is not None
    assert "SAFEHOLD_KEK" in note
    assert epochs.startup_note(provider, "the key file") is None


def test_the_key_file_keeps_epochs_and_forgets_a_destroyed_one_for_good(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "kek.json"
    first = FileKeyProvider(path)
    first.open_epoch(MARCH)
    wrapped = first.wrap(MARCH, DEK, AAD)
    other = FileKeyProvider(path)  # another process: reads the epoch from the file
    assert other.epochs() == [MARCH]
    assert other.unwrap(MARCH, wrapped, AAD) == DEK
    assert first.current_version() == "v1"  # an epoch is never the current version
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    assert other.destroy_epoch(MARCH) is True
    assert other.destroy_epoch(MARCH) is False
    assert MARCH not in path.read_text()
    with pytest.raises(UnknownKeyVersion):
        FileKeyProvider(path).unwrap(MARCH, wrapped, AAD)
    first.open_epoch(MARCH)  # asks the file: a new key, not the one it remembered
    with pytest.raises(DecryptionFailed):
        first.unwrap(MARCH, wrapped, AAD)
    first.add_version()  # rotation keeps the epochs
    assert FileKeyProvider(path).epochs() == [MARCH]
    assert FileKeyProvider(path).versions() == ["v1", "v2"]


@pytest.mark.parametrize(
    ("epochs_entry", "problem"),
    [
        ({"id": "v3", "key": "AAAA"}, "not an epoch name"),
        ({"id": MARCH}, "each epoch needs"),
    ],
)
def test_a_bad_epoch_in_the_key_file_is_refused(
    tmp_path: Path, epochs_entry: dict[str, str], problem: str
) -> None:
    path = tmp_path / "keys" / "kek.json"
    FileKeyProvider(path)
    document = json.loads(path.read_text())
    if "key" in epochs_entry:
        epochs_entry["key"] = base64.b64encode(secrets.token_bytes(32)).decode()
    document["epochs"] = [epochs_entry]
    path.write_text(json.dumps(document))
    with pytest.raises(KeyProviderError, match=problem):
        FileKeyProvider(path)
