"""Change notices: publishing a version tells every active account, through the
communication outbox, as a service update (not marketing) — what changed in plain words and
when it takes effect."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from safehold.access.rules import Actor
from safehold.comms import service as comms
from safehold.notices import rules
from safehold.notices.models import PolicyNotice, PolicyVersion
from safehold.policy import Policy
from safehold.policy.document import NoticeChannel
from safehold.subjects.models import Subject

CHANGE, WITHDRAWAL = "change", "withdrawal"  # what a linked message announced


def notice_text(version: PolicyVersion) -> tuple[str, str]:
    """The change notice in plain words: what changed and when it takes effect. Changes are
    quoted as text in the template, so braces in a label can never become template code."""
    when = version.effective_at.strftime("%d %B %Y")
    lines = [_quoted(c) for c in version.changes]
    subject = f"Our privacy policy changes on {when}"
    body = [
        "Hello {{ name }},",
        "",
        f"We have published version {version.label} of our privacy policy. It takes effect on "
        f"{when}.",
        "",
        "What changes:" if lines else "We reworded the policy; the rules stay the same.",
        *(f"- {line}" for line in lines[:20]),
        *([f"- and {len(lines) - 20} more: see the policy page"] if len(lines) > 20 else []),
        "",
    ]
    if version.change_class == rules.MATERIAL:
        body += material_words(version, when)
    else:
        body.append("If you keep using our service after that date, the new version applies.")
    body += ["", "Read the new policy and compare it with the old one: {{ policy_url }}"]
    return subject, "\n".join(body)


def material_words(version: PolicyVersion, when: str) -> list[str]:
    """What a material change means for the person, as enforced (decision 0022): the changes
    held back until they accept, and those that apply to everyone on the effective date."""
    material = [c for c in version.changes if c["change_class"] == rules.MATERIAL]
    held = [_quoted(c) for c in material if rules.held_back(str(c["kind"]))]
    everyone = [_quoted(c) for c in material if not rules.held_back(str(c["kind"]))]
    lines = ["This is a material change."]
    if held:
        lines += [
            "Until you accept it, these changes do not apply to your data: we keep using, "
            "sharing and keeping it only as the version you accepted allows.",
            *(f"- {line}" for line in held[:20]),
        ]
    if everyone:
        lines += [
            f"These changes cannot wait for each person: they apply to everyone from {when}, "
            "whether or not you accept.",
            *(f"- {line}" for line in everyone[:20]),
        ]
    lines.append("You can accept in the privacy center: {{ privacy_center_url }}")
    return lines


def _quoted(change: dict[str, object]) -> str:
    return str(change["description"]).replace("{", "(").replace("}", ")")


def audience(session: Session, policy: Policy) -> int | None:
    """How many people :func:`announce` would e-mail under ``policy`` (the one in force):
    every active account — each decided again when queued and when sent, so a suppressed
    address is skipped — or None when the policy does not announce changes by e-mail."""
    if NoticeChannel.EMAIL not in policy.changes.notify:
        return None
    return int(
        session.scalar(select(func.count()).select_from(Subject).where(Subject.status == "active"))
        or 0
    )


def announce(
    session: Session, comms_ctx: comms.Context, version: PolicyVersion, *, actor: Actor
) -> uuid.UUID | None:
    """Tell every active account about a new version by e-mail, as a service update (not
    marketing) — when the policy in force (the one people accepted: ``comms_ctx.policy``)
    lists e-mail among the ways changes are announced; None when it does not. The privacy
    center shows every pending version either way (``changes.notify``'s other channel)."""
    if NoticeChannel.EMAIL not in comms_ctx.policy.changes.notify:
        return None
    subject, text = notice_text(version)
    message = comms.enqueue(
        session, comms_ctx, actor=actor, kind="service_update", subject_ids=None,
        subject=subject, text=text, html=None,
    )  # fmt: skip
    session.add(PolicyNotice(message_id=message.id, version_seq=version.seq, kind=CHANGE))
    session.flush()
    return message.id
