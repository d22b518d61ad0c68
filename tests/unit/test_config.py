from __future__ import annotations

import os
from pathlib import Path

import pytest

from safehold.config import Settings, SettingsError, load_settings, normalise_database_url


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [k for k in os.environ if k.startswith("SAFEHOLD_")]:
        monkeypatch.delenv(name)


def test_defaults_use_embedded_sqlite_under_the_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAFEHOLD_DATA_DIR", "/srv/safehold")
    settings = load_settings()
    assert settings.is_embedded
    assert settings.database.database == "/srv/safehold/safehold.db"
    assert settings.policy_path.name == "default.yaml"
    assert settings.policy_path.exists()


def test_unknown_setting_is_refused_with_a_suggestion(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAFEHOLD_DATABSE_URL", "sqlite:///x.db")
    with pytest.raises(SettingsError, match=r"unknown setting SAFEHOLD_DATABSE_URL.*DATABASE_URL"):
        load_settings()


def test_the_test_suites_own_variable_is_not_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAFEHOLD_TEST_POSTGRES_URL", "postgresql://ci@127.0.0.1/test")
    assert load_settings().is_embedded


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("SAFEHOLD_PORT", "eighty", "SAFEHOLD_PORT"),
        ("SAFEHOLD_PORT", "70000", "SAFEHOLD_PORT"),
        ("SAFEHOLD_BASE_URL", "example.com", "SAFEHOLD_BASE_URL"),
        ("SAFEHOLD_LOG_FORMAT", "xml", "SAFEHOLD_LOG_FORMAT"),
        ("SAFEHOLD_DATABASE_URL", "not a url", "SAFEHOLD_DATABASE_URL"),
        ("SAFEHOLD_DATABASE_URL", "mysql://root@127.0.0.1/test", "supports postgresql and sqlite"),
        ("SAFEHOLD_TRUSTED_PROXIES", "10.0.0.5,proxy.internal", "entry 2 is not an IP address"),
        ("SAFEHOLD_TRUSTED_PROXIES", "10.0.0.1/8", "entry 1 is not an IP address or network"),
        ("SAFEHOLD_TRUSTED_PROXIES", "*,10.0.0.5", "cannot be combined"),
        ("SAFEHOLD_STAFF_2FA", "optional", "SAFEHOLD_STAFF_2FA: Input should be 'required' or"),
        ("SAFEHOLD_STAFF_2FA", "passkey", "passkeys need a host name in SAFEHOLD_BASE_URL"),
    ],
)
def test_wrong_values_give_one_line_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


def test_broken_url_error_does_not_echo_the_password() -> None:
    with pytest.raises(SettingsError) as caught:
        normalise_database_url("oracle://admin:hunter2-secret@db.example.com/prod")
    assert "hunter2-secret" not in str(caught.value)


@pytest.mark.parametrize(
    ("raw", "driver"),
    [
        ("postgresql://u@127.0.0.1/db", "postgresql+psycopg"),
        ("postgresql+psycopg://u@127.0.0.1/db", "postgresql+psycopg"),
        ("sqlite:///var/x.db", "sqlite+pysqlite"),
    ],
)
def test_database_urls_are_pinned_to_supported_drivers(raw: str, driver: str) -> None:
    assert normalise_database_url(raw).drivername == driver


def test_relative_policy_falls_back_to_the_shipped_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert Settings().policy_path.is_absolute()
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "default.yaml").write_text("x: 1\n")
    assert Settings().policy_path == Path("policies/default.yaml")


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("", ""),
        (" 10.0.0.5 , 10.1.0.0/16,::1 ", "10.0.0.5,10.1.0.0/16,::1"),
        ("*", "*"),
    ],
)
def test_trusted_proxies_are_none_by_default_and_checked_when_named(
    monkeypatch: pytest.MonkeyPatch, raw: str, kept: str
) -> None:
    assert load_settings().trusted_proxies == ""
    monkeypatch.setenv("SAFEHOLD_TRUSTED_PROXIES", raw)
    assert load_settings().trusted_proxies == kept


def test_staff_2fa_is_required_by_default_and_passkey_needs_a_secure_host_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert load_settings().staff_2fa == "required"
    monkeypatch.setenv("SAFEHOLD_STAFF_2FA", "passkey")
    monkeypatch.setenv("SAFEHOLD_BASE_URL", "http://console.example.com")
    with pytest.raises(SettingsError, match=r"SAFEHOLD_STAFF_2FA: .*https://"):
        load_settings()
    monkeypatch.setenv("SAFEHOLD_BASE_URL", "https://console.example.com")
    assert load_settings().staff_2fa == "passkey"
    monkeypatch.setenv("SAFEHOLD_BASE_URL", "http://localhost:8000")
    assert load_settings().staff_2fa == "passkey"


def test_single_sign_on_needs_issuer_id_and_secret_together(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SAFEHOLD_OIDC_ISSUER", "https://id.example.com/")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(caught.value) == (
        "single sign-on needs SAFEHOLD_OIDC_ISSUER, SAFEHOLD_OIDC_CLIENT_ID and "
        "SAFEHOLD_OIDC_CLIENT_SECRET together"
    )
    monkeypatch.setenv("SAFEHOLD_OIDC_CLIENT_ID", "safehold")
    monkeypatch.setenv("SAFEHOLD_OIDC_CLIENT_SECRET", "fictional-secret")
    settings = load_settings()
    assert settings.oidc_enabled
    assert settings.oidc_issuer == "https://id.example.com"
    assert "fictional-secret" not in repr(settings)
    monkeypatch.delenv("SAFEHOLD_OIDC_ISSUER")
    monkeypatch.delenv("SAFEHOLD_OIDC_CLIENT_ID")
    monkeypatch.delenv("SAFEHOLD_OIDC_CLIENT_SECRET")
    assert not load_settings().oidc_enabled


@pytest.mark.parametrize(
    "issuer",
    ["http://id.example.com", "ftp://id.example.com", "https://", "https://a.example/?x=1"],
)
def test_the_issuer_must_be_https_except_on_loopback(
    monkeypatch: pytest.MonkeyPatch, issuer: str
) -> None:
    monkeypatch.setenv("SAFEHOLD_OIDC_ISSUER", issuer)
    monkeypatch.setenv("SAFEHOLD_OIDC_CLIENT_ID", "safehold")
    monkeypatch.setenv("SAFEHOLD_OIDC_CLIENT_SECRET", "fictional-secret")
    with pytest.raises(SettingsError, match=r"SAFEHOLD_OIDC_ISSUER: .*https://"):
        load_settings()
    monkeypatch.setenv("SAFEHOLD_OIDC_ISSUER", "http://localhost:9400/")
    assert load_settings().oidc_issuer == "http://localhost:9400"
