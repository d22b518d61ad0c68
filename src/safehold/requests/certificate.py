"""The erasure certificate: what was erased, what was kept (with reason and end date), which
recipients were told, the verification result and the times. JSON for machines, an HTML page
for people. It holds no personal data: the person is their opaque id, the rest is
categories, classes and counts, so it outlives the erasure with the request log."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2

from safehold.policy import Policy
from safehold.requests import certificate_view
from safehold.requests.models import DataRequest

FORMAT = "safehold-erasure-certificate/1"
_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def completion_mail_kept(done: dict[str, Any], reason: str) -> list[dict[str, Any]]:
    """The address kept for the completion e-mail (decision 0028), as a ``kept`` entry: under
    its own key class, until that e-mail is settled and at the latest ``until``."""
    queued = done.get("queue_completion_mail", {})
    if not queued.get("queued"):
        return []
    return [
        {
            "category": "account.email",
            "classes": [queued["key_class"]],
            "kind": "completion_mail",
            "ref": queued["item_id"],
            "reason": reason,
            "legal_basis": "legal_obligation",
            "until": queued["until"],
        }
    ]


def build(
    request: DataRequest, done: dict[str, Any], *, issued_at: datetime, kept_for_mail: str = ""
) -> dict[str, Any]:
    plan, rows, evts = done["plan"], done["delete_rows"], done["delete_events"]
    shredded = done["shred"]["destroyed"]
    erased = [
        {
            "category": category,
            "rows_deleted": rows["personal_values"].get(category, 0),
        }
        for category in plan["erase_categories"]
    ]
    return {
        "format": FORMAT,
        "request_id": str(request.id),
        "subject_id": str(request.subject_id),
        "kind": request.kind,
        "channel": request.channel,
        "received_at": _iso(request.received_at),
        "verified_at": _iso(request.verified_at),
        "started_at": _iso(request.started_at),
        "deadline_at": _iso(request.deadline_at),
        "issued_at": _iso(issued_at),
        "erased": {
            "categories": erased,
            "retention_classes_shredded": shredded,
            "payment_methods_deleted": rows["payment_methods_deleted"],
            "payment_tokens_removed": rows["payment_tokens_removed"],
            "marketing_choices_deleted": rows["marketing_choices"],
            "policy_acceptances_deleted": rows["policy_acceptances"],
            "events_deleted": evts["events"],
            "logins_deleted": evts["logins"],
            "devices_deleted": evts["devices"],
            "address_suppressed": done["suppress_address"]["suppressed"],
            # None: the mail backend keeps no copies (SMTP); else the copies deleted
            "mail_copies_deleted": (
                done["delete_mail_copies"]["deleted"]
                if done.get("delete_mail_copies", {}).get("kept_by_backend")
                else None
            ),
        },
        "kept": [*plan["kept"], *completion_mail_kept(done, kept_for_mail)],
        # Exceptions the policy keeps through erasure only for some people, not this one.
        "not_kept": plan.get("not_applicable", []),
        "recipients_notified": done["notify_recipients"]["recipients"],
        "verification": done["verify"],
        "storage": {"sqlite_wal_checkpoint": done.get("wal_checkpoint")},
        "tombstone": "the person's id, status 'erased' and this request log; no personal data",
        "outcome": None,  # set when the request reaches its final state
    }


def render_html(cert: dict[str, Any], policy: Policy | None = None) -> str:
    """The certificate as a page to read and print; ``policy`` names the categories,
    recipients and key classes (its ids are shown beside the names, as in the JSON)."""
    return _ENV.get_template("certificate.html.j2").render(**certificate_view.view(cert, policy))
