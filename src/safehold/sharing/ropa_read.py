"""Reading the record of processing activities: the one use case the API, the console and
the CLI share. Each read is written to the audit log (``ropa.read``, no person, no
category): who looked at the record of what the operator does with personal data, and when.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy.orm import Session

from safehold.access import audit
from safehold.access.rules import Actor
from safehold.clock import Clock
from safehold.policy import Policy
from safehold.sharing import ropa
from safehold.vault.service import Vault

ACTION = "ropa.read"


def read(
    session: Session, *, policy: Policy, vault: Vault, clock: Clock, webhooks: Collection[str],
    actor: Actor, verify_audit: bool = False,
) -> ropa.Ropa:  # fmt: skip
    """The record from the policy in force and live figures, its read audited (the caller
    commits)."""
    now = clock.now()
    live = ropa.figures(session, vault=vault, now=now, webhooks=webhooks, verify_audit=verify_audit)
    document = ropa.build(policy, live, generated_at=now)
    audit.record(
        session, actor=actor, action=ACTION, subject_id=None, categories=[], purpose=None,
        outcome="ok", clock=clock,
    )  # fmt: skip
    return document
