"""The collaborators one Safehold process shares: settings, database, policy, clock, metrics.

Built once at start-up (``safehold serve``, a worker, a CLI command, a test) and handed to
the app factory, so nothing reaches for globals and tests swap in a frozen clock.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from safehold.access import chain
from safehold.access.audit_keys import AuditKeys
from safehold.backup.ledger import Ledger
from safehold.clock import Clock, SystemClock
from safehold.config import Settings
from safehold.datadir import make_private
from safehold.db import AUDIT_KEY, make_engine, make_session_factory
from safehold.dbtimeouts import DatabaseTimeouts
from safehold.notices.book import PolicyBook
from safehold.policy import Policy, load_policy
from safehold.shared import SharedRedis, shared_prefix
from safehold.vault.providers import provider_from_settings
from safehold.vault.service import Vault


class Runtime:
    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        sessions: sessionmaker[Session],
        policy: Policy,
        vault: Vault,
        clock: Clock | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.sessions = sessions
        self.vault = vault
        # Every session carries the audit key (access.audit); a factory that already carries
        # one (a test's) keeps it.
        info = sessions.kw.get("info", {})
        if AUDIT_KEY not in info:
            sessions.configure(info={**info, AUDIT_KEY: self.new_audit_keys()})
        elif isinstance(info[AUDIT_KEY], bytes):  # a test's key: version 0, rotatable here
            keys = AuditKeys(info[AUDIT_KEY], vault.provider)
            sessions.configure(info={**info, AUDIT_KEY: keys})
        self.clock: Clock = clock or SystemClock()
        self.registry = registry or CollectorRegistry()
        # What the processes share when SAFEHOLD_REDIS_URL is set (safehold.shared): the
        # rate limits' windows and the newest published policy version.
        self.shared = None
        if settings.redis_url:
            prefix = shared_prefix(vault.provider.index_key())
            self.shared = SharedRedis(settings.redis_url, self.registry, prefix=prefix)
        # ``policy`` (the file) serves until a version is published; then the version in
        # force at the clock's "now" does, switching at its effective date by itself.
        self.book = PolicyBook(policy, shared=self.shared)

    def new_audit_keys(self) -> AuditKeys:
        """The audit key versions: 0 derived from the key provider's index key (never
        stored), the rotated ones unwrapped by it (``access.audit_keys``)."""
        return AuditKeys(chain.derive_key(self.vault.provider.index_key()), self.vault.provider)

    def audit_keys(self) -> AuditKeys:
        """The audit key versions every session of this runtime carries."""
        keys = self.sessions.kw["info"][AUDIT_KEY]
        return keys if isinstance(keys, AuditKeys) else AuditKeys(keys)

    def audit_key(self) -> bytes:
        """The audit key's version 0 (what migration 0026 sealed the unkeyed log with)."""
        return self.audit_keys().legacy

    @property
    def policy(self) -> Policy:
        return self.book.policy(self.clock.now())

    def close(self) -> None:
        self.engine.dispose()
        if self.shared is not None:
            self.shared.close()


def database_timeouts(settings: Settings) -> DatabaseTimeouts:
    return DatabaseTimeouts(
        connect=settings.db_connect_timeout,
        statement=settings.db_statement_timeout,
        pool=settings.db_pool_timeout,
    )


def build_runtime(
    settings: Settings, *, clock: Clock | None = None, engine: Engine | None = None
) -> Runtime:
    """Load the policy (PolicyFileError on a bad file), make the data directory private,
    open the key provider (KeyProviderError) and connect the database."""
    policy = load_policy(settings.policy_path)
    make_private(settings.data_dir)  # before the key file and the embedded database
    clock = clock or SystemClock()
    provider = provider_from_settings(settings.data_dir, settings.kek)
    vault = Vault(provider, clock, ledger=Ledger(settings.erasure_ledger_path))
    engine = engine or make_engine(settings.database, timeouts=database_timeouts(settings))
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=make_session_factory(engine),
        policy=policy,
        vault=vault,
        clock=clock,
    )
