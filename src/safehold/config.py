"""Settings, read once from SAFEHOLD_* environment variables.

A wrong setting must stop start-up with one clear line, not a traceback, so every check
that can fail lives here and raises :class:`SettingsError` with a human sentence.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from functools import cached_property
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from safehold import dbtimeouts
from safehold.sharing.webhooks import WebhookSecretError, secret_key
from safehold.staff.passkey_rules import StaffTwoFactor, unusable_reason

ENV_PREFIX = "SAFEHOLD_"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_POLICY = "policies/default.yaml"

# Variables that share the prefix but belong to the test suite or CI, not to the service.
NOT_SETTINGS = frozenset({"SAFEHOLD_TEST_POSTGRES_URL", "SAFEHOLD_TEST_REDIS_URL"})


class SettingsError(Exception):
    """A setting that cannot work; ``str()`` is the one line shown to the operator."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    data_dir: Path = Path("var")
    database_url: str | None = None
    policy: Path = Path(DEFAULT_POLICY)
    base_url: str = "http://127.0.0.1:8000"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    max_request_bytes: int = Field(default=1_048_576, ge=1024)
    # Usage events (docs/events.md): events per POST /v1/events (more: 413 batch_too_large),
    # and that endpoint's own body limit, in place of max_request_bytes.
    events_max_batch: int = Field(default=1_000, ge=1, le=100_000)
    events_max_request_bytes: int = Field(default=8_388_608, ge=1024)
    # Analytics (docs/analytics.md): days after a day ends before its roll-up is final and
    # reports release it; an event arriving later still reopens the day.
    analytics_grace_days: int = Field(default=7, ge=1, le=90)
    # Requests (docs/requests.md, "Owned requests"): days before a request's deadline its
    # assignee is e-mailed a reminder (once per deadline); overdue ones go to the officers.
    request_reminder_days: int = Field(default=3, ge=1, le=60)
    # Key-encryption keys from the environment ("v1:<base64>,…;index:<base64>", see
    # docs/vault.md); unset means the key file under the data dir, created on first run.
    kek: str | None = Field(default=None, repr=False)
    # Backups (docs/operations.md, "Backup and restore"): the erasure ledger, kept outside the
    # database with the keys (unset: keys/erasure-ledger.jsonl under the data dir), and where
    # `safehold backup create` writes (unset: backups/ under the data dir).
    erasure_ledger: Path | None = None
    backup_dir: Path | None = None
    # Mail delivery (used by the communication outbox). "console" prints e-mails to the
    # terminal instead of sending them: for demos and development only (docs/communication.md).
    mail_backend: Literal["smtp", "console"] = "smtp"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    smtp_username: str | None = None
    smtp_password: str | None = None
    mail_from: str = "privacy@example.com"
    # A mailbox for "mailto:" unsubscribe requests in List-Unsubscribe (unset: https only).
    mail_unsubscribe_mailto: str | None = None
    smtp_timeout: float = Field(default=30.0, gt=0, le=600)  # seconds per SMTP operation
    # PostgreSQL bounds, in seconds (docs/operations.md, "When the database stops answering"):
    # opening a connection, one statement of an HTTP request, waiting for a pooled connection.
    db_connect_timeout: int = Field(default=round(dbtimeouts.DEFAULT_CONNECT_TIMEOUT), ge=2, le=300)
    db_statement_timeout: float = Field(default=dbtimeouts.DEFAULT_STATEMENT_TIMEOUT, gt=0, le=3600)
    db_pool_timeout: float = Field(default=dbtimeouts.DEFAULT_POOL_TIMEOUT, gt=0, le=600)
    # Where each recipient's Art. 19 notices go, as JSON: {"<recipient id>": {"url":
    # "https://…", "secret": "whsec_…"}} (docs/sharing.md). Recipients without an entry are
    # "manual": staff pass the notice on and acknowledge it.
    recipient_webhooks: str | None = Field(default=None, repr=False)
    # Reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed: addresses or
    # networks, comma-separated, or "*" for any peer. Empty (the default): no forwarded
    # header is believed, and the client is the connection's peer — so a client cannot pick
    # the address the per-client rate limits count (docs/operations.md, "Behind a proxy").
    trusted_proxies: str = ""
    # Server processes of `safehold serve` on one port (unset: 1 on the embedded database,
    # one per core on PostgreSQL; docs/operations.md, "Several processes").
    workers: int | None = Field(default=None, ge=1, le=256)
    # Redis for what the processes must share: rate-limit counters and the news of a newly
    # published policy version (unset: each process keeps its own). May hold a password.
    redis_url: str | None = Field(default=None, repr=False)
    # Staff single sign-on by OpenID Connect (docs/admin-console.md, decision 0039): the
    # provider's issuer URL (discovery is read from it), this deployment's client id and
    # secret there, the name on the sign-in button (unset: the issuer's host), and the claim
    # that names a member's role (unset: the role of the invitation decides).
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = Field(default=None, repr=False)
    oidc_name: str | None = Field(default=None, min_length=1, max_length=40)
    oidc_role_claim: str | None = Field(default=None, min_length=1, max_length=100)
    # How staff sign in to the console (docs/admin-console.md, decision 0041): "required" — a
    # passkey, or the e-mailed code then a TOTP; "passkey" — a member with a passkey only with
    # it, a member without one registers one at the end of a code + TOTP sign-in.
    staff_2fa: StaffTwoFactor = StaffTwoFactor.REQUIRED
    # Addresses (comma-separated) each audit checkpoint is e-mailed to as it is made, e.g.
    # the privacy officers': a copy outside the database and the machine (docs/operations.md,
    # "Audit log"). Empty: none is e-mailed.
    audit_checkpoint_mail: str = ""

    @field_validator("audit_checkpoint_mail")
    @classmethod
    def _checkpoint_mail_is_addresses(cls, value: str) -> str:
        addresses = [a.strip() for a in value.split(",") if a.strip()]
        for address in addresses:
            local, at, domain = address.partition("@")
            if not (local and at and "." in domain) or any(c.isspace() for c in address):
                raise ValueError("must be e-mail addresses separated by commas")
        return ",".join(addresses)

    @property
    def checkpoint_recipients(self) -> list[str]:
        return [a for a in self.audit_checkpoint_mail.split(",") if a]

    @field_validator("base_url")
    @classmethod
    def _base_url_is_http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("staff_2fa")
    @classmethod
    def _passkeys_can_work(cls, value: StaffTwoFactor, info: ValidationInfo) -> StaffTwoFactor:
        base_url = info.data.get("base_url")
        reason = unusable_reason(base_url) if isinstance(base_url, str) else None
        if value is StaffTwoFactor.PASSKEY and reason is not None:
            raise ValueError(f"'passkey' cannot work: {reason}")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_addresses(cls, value: str) -> str:
        return ",".join(parse_trusted_proxies(value))

    @field_validator("redis_url")
    @classmethod
    def _redis_url_is_redis(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in REDIS_SCHEMES:
            raise ValueError("must be a redis:// or rediss:// URL (e.g. redis://127.0.0.1:6379/0)")
        return value

    @field_validator("oidc_issuer")
    @classmethod
    def _issuer_is_https(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        secure = parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK)
        if not parts.hostname or not secure or parts.query or parts.fragment:
            raise ValueError("must be an https:// URL (http:// on loopback) without ? or #")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _oidc_is_complete(self) -> Settings:
        given = [self.oidc_issuer, self.oidc_client_id, self.oidc_client_secret]
        if any(given) and not all(given):
            raise ValueError(
                "single sign-on needs SAFEHOLD_OIDC_ISSUER, SAFEHOLD_OIDC_CLIENT_ID and "
                "SAFEHOLD_OIDC_CLIENT_SECRET together"
            )
        return self

    @property
    def oidc_enabled(self) -> bool:
        """Whether staff single sign-on is configured."""
        return self.oidc_issuer is not None

    @field_validator("recipient_webhooks")
    @classmethod
    def _webhooks_are_valid(cls, value: str | None) -> str | None:
        if value is not None:
            parse_recipient_webhooks(value)
        return value

    @cached_property
    def webhooks(self) -> dict[str, RecipientWebhook]:
        """The recipients' webhook targets by recipient id (empty: every recipient manual)."""
        return parse_recipient_webhooks(self.recipient_webhooks or "{}")

    @cached_property
    def database(self) -> URL:
        """The SQLAlchemy URL: the configured one, or embedded SQLite under the data dir."""
        if self.database_url is None:
            return URL.create("sqlite+pysqlite", database=str(self.data_dir / "safehold.db"))
        return normalise_database_url(self.database_url)

    @property
    def erasure_ledger_path(self) -> Path:
        return self.erasure_ledger or self.data_dir / "keys" / "erasure-ledger.jsonl"

    @property
    def backup_path(self) -> Path:
        return self.backup_dir or self.data_dir / "backups"

    @property
    def is_embedded(self) -> bool:
        return self.database.get_backend_name() == "sqlite"

    @property
    def server_processes(self) -> int:
        """`safehold serve`'s processes: SAFEHOLD_WORKERS, else 1 on the embedded database
        (SQLite serialises writers anyway) and one per usable core on PostgreSQL."""
        if self.workers is not None:
            return self.workers
        return 1 if self.is_embedded else usable_cores()

    @property
    def policy_path(self) -> Path:
        """The policy file; a relative default falls back to the copy shipped in the repo."""
        if self.policy.is_absolute() or self.policy.exists():
            return self.policy
        shipped = PROJECT_ROOT / self.policy
        return shipped if shipped.exists() else self.policy


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, where the system tells)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def normalise_database_url(raw: str) -> URL:
    """Accept the URLs operators write and pin each backend to the driver we support."""
    try:
        url = make_url(raw)
    except ArgumentError:
        raise SettingsError(
            "SAFEHOLD_DATABASE_URL is not a database URL; expected e.g. "
            "postgresql://user@host:5432/db or sqlite:///var/safehold.db"
        ) from None
    backend = url.get_backend_name()
    if backend == "postgresql":
        return url.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        return url.set(drivername="sqlite+pysqlite")
    raise SettingsError(
        f"SAFEHOLD_DATABASE_URL uses {backend!r}; Safehold supports postgresql and sqlite"
    )


def parse_trusted_proxies(raw: str) -> list[str]:
    """The entries of SAFEHOLD_TRUSTED_PROXIES, checked: uvicorn would silently take a
    mistyped address for a name that never matches, and trust nobody without saying so."""
    entries = [entry.strip() for entry in raw.split(",") if entry.strip()]
    if "*" in entries:
        if len(entries) > 1:
            raise ValueError("'*' (any peer) cannot be combined with addresses")
        return entries
    for position, entry in enumerate(entries, start=1):
        try:
            if "/" in entry:
                ipaddress.ip_network(entry)  # strict, as uvicorn: 10.0.0.0/8, not 10.0.0.1/8
            else:
                ipaddress.ip_address(entry)
        except ValueError:
            raise ValueError(
                f"entry {position} is not an IP address or network (e.g. 10.0.0.5, "
                "10.0.0.0/24, ::1)"
            ) from None
    return entries


@dataclass(frozen=True)
class RecipientWebhook:
    url: str
    secret: str = dataclass_field(repr=False)


REDIS_SCHEMES = frozenset({"redis", "rediss", "unix"})
_RECIPIENT_ID = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def parse_recipient_webhooks(raw: str) -> dict[str, RecipientWebhook]:
    """Check SAFEHOLD_RECIPIENT_WEBHOOKS; messages name the recipient, never a URL or secret."""
    shape = 'expected {"<recipient id>": {"url": "https://…", "secret": "whsec_…"}}'
    try:
        data = json.loads(raw)
    except ValueError:
        raise ValueError(f"is not JSON; {shape}") from None
    if not isinstance(data, dict):
        raise ValueError(f"is not a JSON object; {shape}")
    targets: dict[str, RecipientWebhook] = {}
    for recipient, target in data.items():
        if not _RECIPIENT_ID.match(recipient):
            raise ValueError("a key is not a recipient id of the policy (e.g. payment_processor)")
        if not isinstance(target, dict) or set(target) != {"url", "secret"}:
            raise ValueError(f"recipient '{recipient}': give exactly 'url' and 'secret'")
        url, secret = target["url"], target["secret"]
        parts = urlsplit(url) if isinstance(url, str) else None
        if (
            parts is None
            or not parts.hostname
            or not (
                parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK)
            )
        ):
            raise ValueError(f"recipient '{recipient}': url must be https:// (http:// on loopback)")
        try:
            secret_key(secret if isinstance(secret, str) else "")
        except WebhookSecretError as exc:
            raise ValueError(f"recipient '{recipient}': {exc}") from None
        targets[recipient] = RecipientWebhook(url, secret)
    return targets


def unknown_settings(environ: Mapping[str, str]) -> list[str]:
    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    return sorted(k for k in environ if k.startswith(ENV_PREFIX) and k not in known | NOT_SETTINGS)


def load_settings() -> Settings:
    """Read and check the settings, raising :class:`SettingsError` with one readable line."""
    unknown = unknown_settings(os.environ)
    if unknown:
        known = [ENV_PREFIX + name.upper() for name in Settings.model_fields]
        hint = difflib.get_close_matches(unknown[0], known, n=1)
        suggestion = f" (did you mean {hint[0]}?)" if hint else ""
        raise SettingsError(f"unknown setting {unknown[0]}{suggestion}")
    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        if not first["loc"]:  # a rule over several settings names them itself
            raise SettingsError(first["msg"].removeprefix("Value error, ")) from None
        name = ENV_PREFIX + str(first["loc"][0]).upper()
        raise SettingsError(f"{name}: {first['msg']}") from None
    _ = settings.database  # a broken URL fails here, at start-up
    return settings
