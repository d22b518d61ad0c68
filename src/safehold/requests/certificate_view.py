"""The erasure certificate as a document people read (issue 20, item 18): dates in words,
categories, recipients and key classes by their names in the policy (the id beside each, to
match the JSON), one line per kind of record with its count, headed sections. Pure: it reads
the stored certificate and the policy's names, and the template lays it out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from safehold.policy import Policy
from safehold.wording import count, label

OUTCOMES = {
    "completed": "Completed: everything was erased except what is listed under “What was kept”.",
    "partially_completed": "Partially completed: a legal hold kept some data, listed under "
    "“What was kept”; the rest was erased.",
}
CHANNELS = {  # how the request came in (requests.rules.CHANNELS)
    "api": "the service's API",
    "email": "e-mail",
    "phone": "the telephone",
    "post": "post",
    "privacy_center": "the privacy center",
}
KEPT_KINDS = {
    "retention_exception": "Kept by the retention rule",
    "legal_hold": "Legal hold",
    "completion_mail": "For the e-mail that says the erasure was done",
}
# The records erased besides the categories' values: (certificate field, what they are).
ACTIVITY = (
    ("events_deleted", "usage event"),
    ("logins_deleted", "sign-in record"),
    ("devices_deleted", "device record"),
    ("marketing_choices_deleted", "marketing choice"),
    ("policy_acceptances_deleted", "policy acceptance record"),
)


def when(iso: str | None) -> str:
    """ "2026-03-02T09:30:00+00:00" -> "2 March 2026 at 09:30 UTC"; None -> "not recorded"."""
    if not iso:
        return "not recorded"
    moment = datetime.fromisoformat(iso).astimezone(UTC)
    return f"{moment.day} {moment:%B %Y at %H:%M} UTC"


@dataclass(frozen=True)
class Named:
    name: str
    id: str


@dataclass(frozen=True)
class Line:
    what: Named | str
    done: str


@dataclass(frozen=True)
class KeptLine:
    what: Named
    why: str
    ref: str | None
    reason: str
    legal_basis: str
    until: str


class Names:
    """The policy's names for the ids a certificate holds (an id it does not know: the id)."""

    def __init__(self, policy: Policy | None) -> None:
        self.categories = {c.id: c.label for c in policy.categories} if policy else {}
        self.recipients = {r.id: r.name for r in policy.recipients} if policy else {}
        self.classes = {r.id: r.label for r in policy.retention} if policy else {}
        for rule in policy.retention if policy else ():
            for exception in rule.exceptions:
                self.classes[exception.id] = exception.description

    def category(self, cid: str) -> Named:
        return Named(self.categories.get(cid, cid), cid)

    def recipient(self, rid: str) -> Named:
        return Named(self.recipients.get(rid, rid), rid)

    def key_class(self, klass: str) -> Named:
        return Named(self.classes.get(klass, label(klass, capital=True)), klass)


def erased_lines(cert: dict[str, Any], names: Names) -> list[Line]:
    """Per category what was deleted — a payment's card record is a row of its own, its
    processor token a removal — then the person's records of activity, each with its count."""
    erased = cert["erased"]
    kept = {k["category"] for k in cert["kept"]}
    lines = []
    for item in erased["categories"]:
        cid, n = item["category"], item["rows_deleted"]
        if cid == "account.payment":
            parts = [
                count(erased["payment_methods_deleted"], "payment method") + " deleted",
                count(erased["payment_tokens_removed"], "processor token") + " removed",
            ]
            done = "; ".join(parts)
        else:
            done = f"{count(n, 'stored value')} deleted" if n else "none was held"
        if cid in kept:
            partly = n or cid == "account.payment"
            done = (f"{done}; what remains is under “What was kept”" if partly
                    else "nothing deleted: it is kept (see “What was kept”)")  # fmt: skip
        lines.append(Line(names.category(cid), done))
    for field, singular in ACTIVITY:
        n = erased[field]
        name = f"{singular[:1].upper()}{singular[1:]}s"
        lines.append(Line(name, f"{count(n, singular)} deleted" if n else "none was held"))
    if erased.get("mail_copies_deleted") is not None:
        n = erased["mail_copies_deleted"]
        lines.append(Line("Copies of e-mails kept by the development mail backend",
                          f"{count(n, 'copy', 'copies')} overwritten and deleted"))  # fmt: skip
    return lines


def kept_lines(cert: dict[str, Any], names: Names) -> list[KeptLine]:
    return [
        KeptLine(
            what=names.category(k["category"]),
            why=KEPT_KINDS.get(k["kind"], label(k["kind"], capital=True)),
            ref=k["ref"] if k["kind"] == "retention_exception" else None,
            reason=k["reason"],
            legal_basis=label(k["legal_basis"]) if k["legal_basis"] == "legal_obligation"
            else k["legal_basis"],
            until=when(k["until"]).split(" at ")[0] if k["until"] else "not set",
        )
        for k in cert["kept"]
    ]  # fmt: skip


@dataclass(frozen=True)
class Verification:
    ok: bool
    keys: str
    rows_left: int
    indexes_cleared: bool


def verification(cert: dict[str, Any]) -> Verification:
    found = cert["verification"]
    destroyed = found.get("keys_destroyed", {})
    done = sum(1 for v in destroyed.values() if v)
    keys = (
        f"all {count(len(destroyed), 'key')} destroyed"
        if done == len(destroyed)
        else f"only {done} of {count(len(destroyed), 'key')} destroyed"
    )
    return Verification(bool(found["ok"]), keys, int(found.get("rows_left", 0)),
                        bool(found.get("indexes_cleared")))  # fmt: skip


def view(cert: dict[str, Any], policy: Policy | None) -> dict[str, Any]:
    """Everything the certificate page shows, in words."""
    names = Names(policy)
    return {
        "cert": cert,
        "channel": CHANNELS.get(str(cert.get("channel")), label(str(cert.get("channel")))),
        "outcome": OUTCOMES.get(str(cert.get("outcome")), label(str(cert.get("outcome")),
                                                                 capital=True)),
        "times": [
            ("Request received", when(cert["received_at"])),
            ("Identity verified", when(cert["verified_at"])),
            ("Erasure started", when(cert["started_at"])),
            ("Certificate issued", when(cert["issued_at"])),
            ("Deadline", when(cert["deadline_at"])),
        ],
        "erased": erased_lines(cert, names),
        "keys": [names.key_class(c) for c in cert["erased"]["retention_classes_shredded"]],
        "kept": kept_lines(cert, names),
        "not_kept": [
            {"ref": n["exception"], "name": names.key_class(n["exception"]).name,
             "only_for": [names.category(c).name for c in n["only_for_people_with"]]}
            for n in cert.get("not_kept", [])
        ],
        "recipients": [names.recipient(r) for r in cert["recipients_notified"]],
        "verification": verification(cert),
    }  # fmt: skip
