"""Reading and clearing stored addresses (decision 0043, "IP addresses").

A known person's address is kept sealed (``ip_sealed``) under their data key for the epoch
of ``network.ip``'s class and month (``ip_class``), with a plain marker of its shape
(``ip_whole``: a whole address, ``events.ip.mode: full``, rather than a network) so the
hourly job and the promise checks can tell what to clear without a key. The plain ``ip``
column holds only addresses stored before migration 0043; nothing writes it any more, and
``expire_ips`` clears those within the ``network.ip`` period.

Here: the SQL over both forms (:class:`IpColumns`), and opening one (:func:`unseal`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, case, func, not_, or_
from sqlalchemy.orm import Session

from safehold.events.models import Login
from safehold.policy.capabilities import IP_FIELD as CAPABLE_IP_FIELD
from safehold.policy.capabilities import NETWORK_IP
from safehold.vault.errors import DataKeyDestroyed
from safehold.vault.service import Vault

NETWORK_CATEGORY = NETWORK_IP
IP_FIELD = CAPABLE_IP_FIELD  # the field addresses are sealed as (associated data, class look-up)
NO_IP: dict[str, Any] = {"ip": None, "ip_sealed": None, "ip_class": None, "ip_whole": None}


@dataclass(frozen=True)
class IpColumns:
    """The address columns of a month table or of the login history."""

    plain: Any
    sealed: Any
    whole_mark: Any
    klass: Any

    @classmethod
    def of(cls, table: Table) -> IpColumns:
        return cls(table.c.ip, table.c.ip_sealed, table.c.ip_whole, table.c.ip_class)

    @classmethod
    def logins(cls) -> IpColumns:
        return cls(Login.ip, Login.ip_sealed, Login.ip_whole, Login.ip_class)

    def stored(self) -> ColumnElement[bool]:
        return or_(self.plain.isnot(None), self.sealed.isnot(None))

    def whole(self) -> ColumnElement[bool]:
        """A whole address: plain without "/", or sealed and marked whole."""
        return or_(
            and_(self.plain.isnot(None), not_(self.plain.contains("/"))),
            and_(self.sealed.isnot(None), self.whole_mark.is_(True)),
        )

    def prefix(self) -> ColumnElement[bool]:
        """A shortened address (a network, "203.0.113.0/24"), plain or sealed."""
        return or_(
            self.plain.contains("/"),
            and_(self.sealed.isnot(None), or_(self.whole_mark.is_(None), not_(self.whole_mark))),
        )

    def count(self) -> ColumnElement[int]:
        """How many rows hold an address (an aggregate)."""
        return func.count(case((self.stored(), 1)))


def unseal(
    session: Session, vault: Vault, subject_id: uuid.UUID, row: Any
) -> tuple[str | None, bool]:
    """The address a row holds (a mapping or a :class:`Login`) and whether it was erased:
    plain, opened under its data key, or None (none kept, or its key destroyed — the month's
    period ended or the person was erased — when the second item is True)."""
    sealed, klass = _field(row, "ip_sealed"), _field(row, "ip_class")
    if sealed is None or klass is None:
        return _field(row, "ip"), False
    try:
        address = vault.decrypt(session, subject_id, klass, NETWORK_CATEGORY, IP_FIELD, sealed)
    except DataKeyDestroyed:
        return None, True
    return address, False


def _field(row: Any, name: str) -> Any:
    """A column of a mapping row, or an attribute of an ORM row (loaded if it was expired)."""
    return row.get(name) if isinstance(row, Mapping) else getattr(row, name)
