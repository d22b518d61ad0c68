"""The sentences of the record of processing activities that are not copied from the policy:
which Art. 30(1) point each section answers, who the data subjects are, and the general
description of the technical and organisational security measures (Art. 30(1)(g), 32(1)).

Each measure is stated only when the code or the policy makes it true: the IP sentence
follows ``events.ip``, the card sentence follows ``never_kept``, and so on.
"""

from __future__ import annotations

from datetime import datetime

from safehold.policy import Policy
from safehold.policy.document import IpMode
from safehold.policy.render import join_words

ARTICLES = {
    "a": "controller: name and contact details of the controller (and DPO)",
    "b": "purposes: the purposes of the processing",
    "c": "data_subjects, categories: the categories of data subjects and of personal data",
    "d": "recipients: the categories of recipients, including those in third countries",
    "e": "transfers: transfers to third countries and their safeguards",
    "f": "retention: the envisaged time limits for erasure of each category",
    "g": "security: a general description of the technical and organisational measures",
}


def rotation_words(last: datetime | None, current: str, older: int, total: int) -> str:
    """Key rotation in the record's words: when the last one finished, and whether every
    data key is wrapped by the current key-encryption key (else a rotation is unfinished)."""
    when = (
        f"The last key rotation finished on {last.day} {last:%B %Y at %H:%M} UTC."
        if last is not None
        else "No key rotation has run yet."
    )
    if total == 0:
        state = "No data key exists yet."
    elif older == 0:
        state = (
            f"{'The one data key is' if total == 1 else f'All {total:,} data keys are'} "
            f"wrapped by the current key-encryption key ({current})."
        )
    else:
        state = (
            f"{older:,} of {total:,} data keys are still wrapped by an older key-encryption "
            "key: re-wrapping them under the current one is unfinished "
            "(`safehold keys rotate --resume` finishes it)."
        )
    return f"{when} {state}"


def data_subjects_text(policy: Policy) -> str:
    return (
        f"Customers of {policy.policy.operator}: people who registered an account (active), "
        "and former customers whose closed or erased accounts still hold data within a "
        "retention period or a legal exception."
    )


def security_measures(policy: Policy, audit_entries: int) -> list[str]:
    measures = [
        "Encryption at rest: every personal field is encrypted with AES-256-GCM under a "
        "per-person data key (one per retention class), bound to the person, category and "
        "field; data keys are wrapped by a versioned key-encryption key kept apart from the "
        "database.",
        "Look-ups by e-mail address or phone number use a keyed blind index (HMAC-SHA-256); "
        "no plaintext index exists.",
        "Erasure by crypto-shredding (NIST SP 800-88 cryptographic erase): destroying a "
        "person's data keys makes every copy of their data unreadable, backups included once "
        "they expire; physical deletion follows.",
        "Purpose-bound access: every use of personal data names a purpose and is decided "
        "against the policy; API keys carry scopes and allowed purposes and are stored as "
        "SHA-256 hashes.",
        f"Accountability: every access to personal data is written, in the same transaction, "
        f"to a hash-chained audit log ({audit_entries} entries) whose links are HMAC-SHA-256 "
        f"under a key kept outside the database, so an edited, inserted or forged entry is "
        f"detected by its verification.",
        "Third-party sharing only as the policy allows, each disclosure recorded with "
        "recipient, purpose, categories and reference; erasure, restriction and corrections "
        "are propagated to recipients with signed, acknowledged notices (Art. 19).",
    ]
    never = sorted({item for c in policy.categories for item in c.never_kept})
    if never:
        measures.append(
            f"Data minimisation: never stored — {join_words(never)}; request bodies that "
            "look like card numbers or security codes are refused before any handler runs."
        )
    ip = policy.events.ip
    if ip.mode is IpMode.DROP:
        measures.append("IP addresses are not kept.")
    elif ip.mode is IpMode.TRUNCATE:
        measures.append(
            f"IP addresses are truncated before storage (IPv4 /{ip.ipv4_prefix}, "
            f"IPv6 /{ip.ipv6_prefix})."
        )
    else:
        measures.append(
            "Whole IP addresses are kept only for the security purpose the policy names, "
            "for the short period it sets."
        )
    if policy.events.user_agent == "coarse":
        measures.append(
            "The raw browser identification string is not kept: only device type, "
            "operating-system family and browser family."
        )
    else:
        measures.append("No device details are derived from the browser identification string.")
    measures.append(
        f"Aggregate reports never show a group of fewer than {policy.analytics.k_anonymity} "
        "people (k-anonymity)."
    )
    return measures
