"""A staff member's e-mail address, kept sealed so the worker can e-mail them (request
reminders, decision 0040) without the address being readable in the database.

AES-256-GCM under a key derived (HKDF) from the vault's index key, bound to the member's
id — as the TOTP secret is, and for the same reason: staff are not data subjects of the
service, so their address is not under a person's data key an erasure would shred. The
address is sealed when it is given (an invitation) and when it is typed on the sign-in
page and matched the member's blind index (members invited before addresses were kept).
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from safehold import keys
from safehold.staff.models import StaffMember
from safehold.subjects.rules import normalise_email
from safehold.vault.service import Vault

_INFO = b"safehold/staff/email-address/v1"


def _key(vault: Vault) -> AESGCM:
    return AESGCM(keys.derive(vault.provider.index_key(), _INFO))


def keep(vault: Vault, member: StaffMember, address: str) -> None:
    """Seal ``address`` (normalised, as its blind index was computed) on the member's row."""
    nonce = os.urandom(12)
    plain = normalise_email(address).encode()
    member.email_sealed = nonce + _key(vault).encrypt(nonce, plain, member.id.bytes)


def address_of(vault: Vault, member: StaffMember) -> str | None:
    """The member's address, or None when none was kept (or it does not open)."""
    sealed = member.email_sealed
    if sealed is None:
        return None
    try:
        return _key(vault).decrypt(sealed[:12], sealed[12:], member.id.bytes).decode()
    except InvalidTag:  # sealed under another index key (a key file replaced)
        return None
