"""Key providers: the key file, the env var, the in-memory fake, and choosing between them."""

from __future__ import annotations

import base64
import json
import multiprocessing
import stat
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from safehold.vault import rules
from safehold.vault.errors import (
    DecryptionFailed,
    KeyProviderError,
    RotationUnsupported,
    UnknownKeyVersion,
)
from safehold.vault.keyring import KeyRing, format_env_value, next_env_value, parse_env_value
from safehold.vault.providers import (
    KEY_FILE,
    EnvKeyProvider,
    FileKeyProvider,
    KeyProvider,
    MemoryKeyProvider,
    provider_from_settings,
)

AAD = b"subject+retention class"
DEK = bytes(range(32))


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


K1, K2, KI = b64(b"\x01" * 32), b64(b"\x02" * 32), b64(b"\x03" * 32)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def round_trips(provider: KeyProvider) -> None:
    version = provider.current_version()
    wrapped = provider.wrap(version, DEK, AAD)
    assert DEK not in wrapped
    assert provider.unwrap(version, wrapped, AAD) == DEK


# --- the key file ---------------------------------------------------------------------------


def test_the_key_file_is_created_private_on_first_use(tmp_path: Path) -> None:
    path = tmp_path / "var" / KEY_FILE
    provider = FileKeyProvider(path)
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    assert provider.versions() == ["v1"]
    assert len(provider.index_key()) == 32
    round_trips(provider)
    assert [p.name for p in path.parent.iterdir()] == ["kek.json"]  # no temporary left over


def test_the_key_file_is_reused_across_instances(tmp_path: Path) -> None:
    path = tmp_path / KEY_FILE
    first = FileKeyProvider(path)
    wrapped = first.wrap("v1", DEK, AAD)
    second = FileKeyProvider(path)
    assert second.unwrap("v1", wrapped, AAD) == DEK
    assert second.index_key() == first.index_key()


@pytest.mark.parametrize("bad_mode", [0o644, 0o640, 0o604, 0o660])
def test_a_key_file_others_can_read_is_refused(tmp_path: Path, bad_mode: int) -> None:
    path = tmp_path / KEY_FILE
    FileKeyProvider(path)
    path.chmod(bad_mode)
    with pytest.raises(KeyProviderError, match=r"group or others .*chmod 600") as caught:
        FileKeyProvider(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("not json", "cannot be read as JSON"),
        ('{"format": "other"}', "not a safehold-kek/1 key file"),
        ('{"format": "safehold-kek/1", "versions": {}}', "'versions' list"),
        (
            '{"format": "safehold-kek/1", "versions": [{"id": "v1", "key": "short"}], '
            f'"index": "{KI}"}}',
            "version 'v1' is not valid base64",
        ),
        (f'{{"format": "safehold-kek/1", "versions": [], "index": "{KI}"}}', "no KEK version"),
        (
            f'{{"format": "safehold-kek/1", "versions": [{{"id": "v1"}}], "index": "{KI}"}}',
            "each version needs an 'id' and a 'key'",
        ),
        (
            '{"format": "safehold-kek/1", "versions": '
            f'[{{"id": "v1", "key": "{K1}"}}, {{"id": "v1", "key": "{K2}"}}], "index": "{KI}"}}',
            "'v1' is listed twice",
        ),
    ],
)
def test_a_damaged_key_file_is_refused_clearly(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "kek.json"
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(KeyProviderError, match=problem):
        FileKeyProvider(path)


def test_add_version_rotates_and_old_versions_still_unwrap(tmp_path: Path) -> None:
    path = tmp_path / KEY_FILE
    provider = FileKeyProvider(path)
    old = provider.wrap("v1", DEK, AAD)
    assert provider.add_version() == "v2"
    assert provider.current_version() == "v2"
    assert provider.versions() == ["v1", "v2"]
    assert provider.unwrap("v1", old, AAD) == DEK
    round_trips(provider)
    assert mode(path) == 0o600
    document = json.loads(path.read_text())
    assert [v["id"] for v in document["versions"]] == ["v1", "v2"]
    assert FileKeyProvider(path).current_version() == "v2"


def test_a_process_started_before_a_rotation_can_unwrap_the_new_version(tmp_path: Path) -> None:
    path = tmp_path / KEY_FILE
    server = FileKeyProvider(path)
    admin = FileKeyProvider(path)
    admin.add_version()
    wrapped = admin.wrap("v2", DEK, AAD)
    assert server.current_version() == "v1"  # until restarted
    assert server.unwrap("v2", wrapped, AAD) == DEK  # re-reads the file for an unknown version


STARTERS = 6


def _start_at_once(path: str, barrier: Any) -> bytes:
    barrier.wait()
    return FileKeyProvider(Path(path)).index_key()


def test_processes_starting_together_share_one_key_file(tmp_path: Path) -> None:
    """Without the lock each process could write its own file and the last one would win,
    orphaning whatever the others had already encrypted."""
    path = str(tmp_path / KEY_FILE)
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, ProcessPoolExecutor(STARTERS, mp_context=context) as pool:
        barrier = manager.Barrier(STARTERS)
        keys = set(pool.map(_start_at_once, [path] * STARTERS, [barrier] * STARTERS))
    assert keys == {FileKeyProvider(Path(path)).index_key()}


def test_concurrent_rotations_never_lose_a_version(tmp_path: Path) -> None:
    path = tmp_path / KEY_FILE
    one, two = FileKeyProvider(path), FileKeyProvider(path)
    assert one.add_version() == "v2"
    assert two.add_version() == "v3"  # read under the lock, so v2 is kept
    assert FileKeyProvider(path).versions() == ["v1", "v2", "v3"]


# --- the environment variable ---------------------------------------------------------------


def test_the_env_format_is_parsed_and_the_last_version_is_current() -> None:
    provider = EnvKeyProvider(f" v1:{K1}, v2:{K2} ; index:{KI} ")
    assert provider.versions() == ["v1", "v2"]
    assert provider.current_version() == "v2"
    assert provider.index_key() == b"\x03" * 32
    old = provider.wrap("v1", DEK, AAD)
    assert provider.unwrap("v1", old, AAD) == DEK
    round_trips(provider)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (f"v1:{K1}", "no ';index:' part"),
        (f"v1:{K1};{KI}", "must be 'index:<base64>'"),
        (f"v1:{K1};secret:{KI}", "must be 'index:<base64>'"),
        (f"{K1};index:{KI}", "entry 1 must be '<version>:<base64>'"),
        (f"v1:{K1},:{K2};index:{KI}", "entry 2 must be"),
        (f"v1:{K1},v1:{K2};index:{KI}", "'v1' is listed twice"),
        (f"v1:not base64!;index:{KI}", "'v1' is not valid base64"),
        (f"v1:{b64(b'x' * 16)};index:{KI}", "'v1' must decode to 32 bytes, got 16"),
        (f"v1:{K1};index:{b64(b'x' * 31)}", "index key must decode to 32 bytes"),
        (f"v1:{K1},v2:{K1};index:{KI}", "'v2' repeats the key of 'v1'"),
        (f"v1:{K1};index:{K1}", "index key must differ from every KEK"),
        (f"v 1:{K1};index:{KI}", "version name 'v 1' must be"),
        (";index:" + KI, "entry 1 must be"),
    ],
)
def test_bad_env_values_are_refused_with_clear_messages(value: str, problem: str) -> None:
    with pytest.raises(KeyProviderError, match=problem) as caught:
        EnvKeyProvider(value)
    assert caught.value.message.startswith("SAFEHOLD_KEK")
    for secret in (K1, K2, KI):
        assert secret not in caught.value.message  # key material is never echoed


def test_the_env_provider_cannot_rotate_itself_and_says_how() -> None:
    provider = EnvKeyProvider(f"v1:{K1};index:{KI}")
    with pytest.raises(RotationUnsupported, match=r"append a new version.*run the rotation"):
        provider.add_version()


def test_next_env_value_appends_a_current_version() -> None:
    fresh = parse_env_value(next_env_value(None))
    assert list(fresh.keks) == ["v1"]
    current = f"v1:{K1};index:{KI}"
    rotated = EnvKeyProvider(next_env_value(current))
    assert rotated.versions() == ["v1", "v2"]
    assert rotated.index_key() == b"\x03" * 32
    old = EnvKeyProvider(current).wrap("v1", DEK, AAD)
    assert rotated.unwrap("v1", old, AAD) == DEK
    assert format_env_value(parse_env_value(current)) == current


# --- behaviour every provider shares --------------------------------------------------------


def test_unknown_versions_and_wrong_associated_data_are_refused() -> None:
    provider = MemoryKeyProvider()
    wrapped = provider.wrap("v1", DEK, AAD)
    with pytest.raises(UnknownKeyVersion, match="no KEK version 'v9'"):
        provider.unwrap("v9", wrapped, AAD)
    with pytest.raises(UnknownKeyVersion):
        provider.wrap("v9", DEK, AAD)
    with pytest.raises(DecryptionFailed):
        provider.unwrap("v1", wrapped, b"another subject")
    provider.add_version()
    with pytest.raises(DecryptionFailed):
        provider.unwrap("v2", wrapped, AAD)  # wrong version for this blob


def test_the_memory_provider_rotates_in_memory() -> None:
    provider = MemoryKeyProvider(KeyRing({"2025": b"\x05" * 32}, b"\x06" * 32))
    assert provider.add_version() == "v2"
    assert provider.versions() == ["2025", "v2"]


def test_a_wrapped_key_is_nonce_plus_tag_longer_and_never_repeats() -> None:
    provider = MemoryKeyProvider()
    one, two = provider.wrap("v1", DEK, AAD), provider.wrap("v1", DEK, AAD)
    assert one != two
    assert len(one) == len(DEK) + rules.OVERHEAD


# --- choosing the provider from settings ----------------------------------------------------


def test_settings_use_the_key_file_under_the_data_dir_by_default(tmp_path: Path) -> None:
    provider = provider_from_settings(tmp_path, None)
    assert isinstance(provider, FileKeyProvider)
    assert provider.path == tmp_path / "keys" / "kek.json"
    assert provider.path.exists()
    assert isinstance(provider_from_settings(tmp_path, "  "), FileKeyProvider)


def test_settings_prefer_the_env_value_and_create_no_file(tmp_path: Path) -> None:
    provider = provider_from_settings(tmp_path, f"v1:{K1};index:{KI}")
    assert isinstance(provider, EnvKeyProvider)
    assert not (tmp_path / "keys").exists()
