"""Pure rules of the privacy center: which purpose a person's own reads serve, how the
details form is checked field by field, how requests and retention periods are put into
words, and the signed link to an erasure certificate.

No FastAPI, no SQLAlchemy.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from safehold import wording
from safehold.policy.document import Policy, RetentionAction, RetentionFrom, RetentionRule
from safehold.requests import links
from safehold.subjects import rules as subject_rules
from safehold.subjects.errors import ConfusableEmail, InvalidEmail, InvalidPhone

# The policy names "access to our platform … your account, billing, sign-in" under
# service_provision: a person reading their own account in the privacy center is that
# (docs/decisions/0012-privacy-center.md).
PURPOSE = "service_provision"
CHANNEL = "privacy_center"  # requests, marketing choices and acceptances made here
RECENT_LOGINS = 20  # sign-ins listed on the devices page

# The signed certificate link (requests.links.certificate_path) outlives the sign-in.
CERTIFICATE_LINK_TTL = links.CERTIFICATE_LINK_TTL
certificate_key = links.certificate_key

MAX_NAME = 200
MAX_FIELD = 200  # characters in any one field of the form
ADDRESS_PARTS = ("street", "postal_code", "city", "country")
CONFUSABLE_EMAIL = "Type the address in one alphabet, without look-alike or full-width letters."
FIELDS = ("name", "email", "phone", *ADDRESS_PARTS)

KIND_WORDS = {
    "erasure": "Delete my data",
    "access": "Download my data",
    "rectification": "Correct my details",
    "objection": "Objection",
    "restriction": "Restrict processing",
}
STATUS_WORDS = {
    "received": "Received",
    "verified": "Confirmed, waiting for our staff",
    "in_progress": "In progress",
    "completed": "Done",
    "partially_completed": "Done in part (see the certificate)",
    "rejected": "Refused",
}


def retention_words(rule: RetentionRule) -> str:
    """ "90 days after the account is closed, then deleted"."""
    then = (
        "then deleted"
        if rule.action is RetentionAction.DELETE
        else "then deleted once counted into anonymous statistics"
    )
    return f"{wording.period(rule.period, rule.from_)}, {then}"


def retention_words_of(period: str, start: RetentionFrom) -> str:
    """ "10 years after it is collected"."""
    return wording.period(period, start)


@dataclass(frozen=True)
class PurposeWords:
    """A purpose as /me tells it once, with the kinds of information it uses (labels)."""

    id: str
    label: str
    basis: str
    description: str
    uses: list[str]


def purposes_in_words(policy: Policy) -> list[PurposeWords]:
    """Each purpose of the policy once, in the policy's order, with what it uses."""
    labels = {c.id: c.label for c in policy.categories}
    return [
        PurposeWords(
            p.id, p.label, wording.label(str(p.lawful_basis)), p.description,
            [labels[c] for c in p.categories if c in labels],
        )
        for p in policy.purposes
    ]  # fmt: skip


def purposes_of(policy: Policy, category: str) -> list[tuple[str, str]]:
    """(id, label) of each purpose that may use the category: what /me names beside it,
    linking to the purpose's one description."""
    return [(p.id, p.label) for p in policy.purposes if category in p.categories]


@dataclass
class Checked:
    """The details form, checked: the corrected fields (only those that change) and a
    message per field that is not right."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)  # "phone", "address": emptied to delete


def _clean(raw: str | None) -> str:
    return " ".join((raw or "").split())


def check_details(form: Mapping[str, str | None], current: Mapping[str, str]) -> Checked:
    """Compare what the person typed with what is held (``current``: field -> value) and
    say, next to each field, what is wrong. An emptied phone or address where one is held is
    removed (``removed``): optional details, deleted by the same rectification request."""
    out = Checked()
    typed = {name: _clean(form.get(name)) for name in FIELDS}
    for name, value in typed.items():
        if len(value) > MAX_FIELD:
            out.errors[name] = f"Keep this under {MAX_FIELD} characters."
    name = typed["name"]
    if not name:
        out.errors.setdefault("name", "Enter your name.")
    elif name != current.get("name"):
        out.values["name"] = name
    _check_email(typed["email"], current, out)
    _check_address(typed, current, out)
    _check_phone(typed["phone"], typed["country"] or current.get("country"), current, out)
    for failed in out.errors:
        out.values.pop(failed, None)
    if out.errors:
        out.removed.clear()
    return out


def _check_email(email: str, current: Mapping[str, str], out: Checked) -> None:
    if not email:
        out.errors.setdefault("email", "Enter your e-mail address.")
        return
    try:
        normal = subject_rules.normalise_email(email)
    except ConfusableEmail:
        out.errors.setdefault("email", CONFUSABLE_EMAIL)
        return
    except InvalidEmail:
        out.errors.setdefault("email", "Enter an e-mail address like name@example.com.")
        return
    if normal != current.get("email"):
        out.values["email"] = normal


def _check_phone(phone: str, region: str | None, current: Mapping[str, str], out: Checked) -> None:
    if not phone:
        if current.get("phone"):
            out.removed.append("phone")
        return
    try:
        normal = subject_rules.normalise_phone(phone, region or None)
    except InvalidPhone:
        out.errors.setdefault(
            "phone", "Enter the number in international form, like +44 20 7946 0958."
        )
        return
    if normal != current.get("phone"):
        out.values["phone"] = normal


def _check_address(typed: Mapping[str, str], current: Mapping[str, str], out: Checked) -> None:
    parts = {p: typed[p] for p in ADDRESS_PARTS}
    if not any(parts.values()):
        if any(current.get(p) for p in ADDRESS_PARTS):
            out.removed.append("address")
        return
    missing = [p for p in ADDRESS_PARTS if not parts[p]]
    if missing:
        for p in missing:
            out.errors.setdefault(p, "Fill in every part of the address.")
        return
    country = parts["country"].upper()
    if len(country) != 2 or not country.isalpha():
        out.errors.setdefault("country", "Use the two-letter country code, like GB or DE.")
        return
    parts["country"] = country
    if any(parts[p] != current.get(p) for p in ADDRESS_PARTS):
        out.values.update(parts)


def link_live(expires_at: datetime | None, now: datetime) -> bool:
    return expires_at is not None and now < expires_at


def request_ref(request_id: uuid.UUID) -> str:
    """A short reference a person can read out on the phone (the id's first 8 digits)."""
    return str(request_id)[:8]
