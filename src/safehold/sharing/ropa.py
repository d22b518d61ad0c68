"""The record of processing activities (GDPR Art. 30(1)), generated from the policy in force
and live figures, never kept as a hand-written document that drifts from what runs.

:func:`figures` reads the live numbers (people, disclosures per recipient, outstanding
notices, data keys per KEK version, the audit chain); :func:`build` turns the policy and
those figures into the :class:`Ropa` document, section by section of Art. 30(1)(a)-(g);
:func:`render_markdown` / :func:`render_html` print it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

import jinja2
from markdown_it import MarkdownIt
from markupsafe import Markup
from pydantic import BaseModel
from sqlalchemy import distinct, func, select, union
from sqlalchemy.orm import Session

from safehold.access import audit
from safehold.access import chain as audit_chain
from safehold.access.models import AuditHead
from safehold.policy import Policy, content_hash
from safehold.policy.render import md_text, period_words
from safehold.sharing import rules
from safehold.sharing.models import Disclosure, DisclosureSubject, Propagation, ServiceDelivery
from safehold.sharing.ropa_text import (
    ARTICLES,
    data_subjects_text,
    rotation_words,
    security_measures,
)
from safehold.subjects.models import Subject
from safehold.vault.jobs import last_rotation
from safehold.vault.service import Vault


@dataclass(frozen=True)
class AuditFigures:
    entries: int
    head_hash: str
    verified_at: datetime | None = None  # None: not verified for this record
    intact: bool | None = None
    broken_at: int | None = None  # the position on its chain (0: a checkpoint's problem)
    broken_place: str | None = None  # where: "chain c, position p", "checkpoint n", …


@dataclass(frozen=True)
class Figures:
    people: dict[str, int]  # by account status
    disclosures: dict[str, tuple[int, int]]  # recipient -> (disclosures, distinct people)
    outstanding_notices: dict[str, int]  # recipient -> notices not yet acknowledged
    overdue_notices: int
    keys_by_version: dict[str, int]
    kek_versions: list[str]
    kek_current: str
    audit: AuditFigures
    webhooks: frozenset[str]
    last_rotation: datetime | None = None


def _recipients_figures(session: Session) -> dict[str, tuple[int, int]]:
    """Recipient -> (disclosures, distinct people): the disclosure records, plus what
    processors received in the course of the service (each e-mail handed to the provider is
    one disclosure; its people are counted once with the others)."""
    disclosed = session.execute(  # records that sent someone something (not refusals)
        select(Disclosure.recipient_id, func.count(distinct(Disclosure.id)))
        .where(Disclosure.people_disclosed > 0)
        .group_by(Disclosure.recipient_id)
    )
    delivered = session.execute(
        select(ServiceDelivery.recipient_id, func.sum(ServiceDelivery.count)).group_by(
            ServiceDelivery.recipient_id
        )
    )
    people_of = union(
        select(Disclosure.recipient_id.label("recipient_id"), DisclosureSubject.subject_id)
        .join(DisclosureSubject, DisclosureSubject.disclosure_id == Disclosure.id)
        .where(DisclosureSubject.outcome == "disclosed"),
        select(ServiceDelivery.recipient_id, ServiceDelivery.subject_id),
    ).subquery()
    people: dict[str, int] = dict(
        session.execute(
            select(people_of.c.recipient_id, func.count()).group_by(people_of.c.recipient_id)
        ).all()
    )
    counts: dict[str, int] = {}
    for recipient, n in [*disclosed, *delivered]:
        counts[recipient] = counts.get(recipient, 0) + int(n or 0)
    return {r: (n, int(people.get(r, 0))) for r, n in counts.items()}


def figures(
    session: Session, *, vault: Vault, now: datetime, webhooks: Collection[str],
    verify_audit: bool = False,
) -> Figures:  # fmt: skip
    """The live numbers. ``verify_audit`` walks the whole audit chain (linear in its length)."""
    by_status = session.execute(select(Subject.status, func.count()).group_by(Subject.status))
    outstanding_states = [s.value for s in rules.OUTSTANDING]
    outstanding = session.execute(
        select(Propagation.recipient_id, func.count())
        .where(Propagation.state.in_(outstanding_states))
        .group_by(Propagation.recipient_id)
    )
    overdue = session.scalar(
        select(func.count())
        .select_from(Propagation)
        .where(Propagation.state.in_(outstanding_states), Propagation.due_at < now)
    )
    heads = {h.id: (h.last_seq, h.last_hash) for h in session.scalars(select(AuditHead))}
    entries = sum(position for position, _ in heads.values())
    chain = AuditFigures(entries, audit_chain.heads_digest(heads))
    if verify_audit:
        result = audit.verify(session)
        at, place = (result.broken.seq, result.broken.where) if result.broken else (None, None)
        chain = AuditFigures(chain.entries, chain.head_hash, now, result.ok, at, place)
    return Figures(
        people={str(status): int(n) for status, n in by_status},
        disclosures=_recipients_figures(session),
        outstanding_notices={r: int(n) for r, n in outstanding},
        overdue_notices=int(overdue or 0),
        keys_by_version=vault.key_versions(session),
        kek_versions=list(vault.provider.versions()),
        kek_current=vault.provider.current_version(),
        audit=chain,
        webhooks=frozenset(webhooks),
        last_rotation=rotated.finished_at if (rotated := last_rotation(session)) else None,
    )


class Controller(BaseModel):
    name: str
    email: str
    website: str
    address: str | None
    phone: str | None
    dpo_email: str | None
    other_contacts: list[str]


class PurposeEntry(BaseModel):
    id: str
    label: str
    description: str
    lawful_basis: str
    article: str
    interest: str | None
    categories: list[str]


class DataSubjects(BaseModel):
    description: str
    by_status: dict[str, int]
    total: int


class CategoryEntry(BaseModel):
    id: str
    label: str
    group: str
    source: str
    description: str
    fields: list[str]
    never_kept: list[str]
    purposes: list[str]


class RecipientEntry(BaseModel):
    id: str
    name: str
    role: str
    country: str
    third_country: bool
    purposes: list[str]
    categories: list[str]
    agreement: str | None
    transfer_safeguard: str | None
    told_of_erasure: bool
    notice_delivery: str
    disclosures: int
    people_disclosed: int
    outstanding_notices: int


class Transfer(BaseModel):
    recipient: str
    country: str
    safeguard: str | None


class RetentionEntry(BaseModel):
    id: str
    label: str
    categories: list[str]
    period: str
    starts: str
    in_words: str
    action: str
    reason: str
    exception_of: str | None = None
    legal_basis: str | None = None
    survives_erasure: bool = False


class KeyFigures(BaseModel):
    kek_current: str
    kek_versions: list[str]
    data_keys_by_version: dict[str, int]
    data_keys_on_older_versions: int
    last_rotation: str | None
    rotation_note: str


class AuditSummary(BaseModel):
    entries: int
    head_hash: str
    verified_at: datetime | None
    intact: bool | None
    broken_at: int | None
    broken_place: str | None = None


class Security(BaseModel):
    measures: list[str]
    keys: KeyFigures
    audit: AuditSummary
    outstanding_notices: int
    overdue_notices: int


class Ropa(BaseModel):
    """Art. 30(1): (a) controller, (b) purposes, (c) data subjects and personal data,
    (d) recipients, (e) transfers to third countries, (f) erasure time limits, (g) security."""

    generated_at: datetime
    policy_title: str
    policy_hash: str
    articles: dict[str, str]
    controller: Controller
    purposes: list[PurposeEntry]
    data_subjects: DataSubjects
    categories: list[CategoryEntry]
    recipients: list[RecipientEntry]
    transfers: list[Transfer]
    retention: list[RetentionEntry]
    security: Security


def _retention(policy: Policy) -> list[RetentionEntry]:
    entries = []
    for rule in policy.retention:
        entries.append(
            RetentionEntry(
                id=rule.id,
                label=rule.label,
                categories=list(rule.categories),
                period=rule.period,
                starts=rule.from_.value,
                in_words=period_words(rule.period, rule.from_),
                action=rule.action.value,
                reason=rule.reason,
            )
        )
        for exc in rule.exceptions:
            entries.append(
                RetentionEntry(
                    id=exc.id,
                    label=exc.description,
                    categories=list(exc.categories or rule.categories),
                    period=exc.period,
                    starts=exc.from_.value,
                    in_words=period_words(exc.period, exc.from_),
                    action="delete",
                    reason=exc.reason or "",
                    exception_of=rule.id,
                    legal_basis=exc.legal_basis,
                    survives_erasure=exc.survives_erasure,
                )
            )
    return entries


def build(policy: Policy, live: Figures, *, generated_at: datetime) -> Ropa:
    c = policy.controller
    recipients = [
        RecipientEntry(
            id=r.id,
            name=r.name,
            role=r.role.value,
            country=r.country,
            third_country=rules.is_third_country(r.country),
            purposes=list(r.purposes),
            categories=list(r.categories),
            agreement=r.agreement,
            transfer_safeguard=r.transfer_safeguard,
            told_of_erasure=r.notify_on_erasure,
            notice_delivery="webhook" if r.id in live.webhooks else "manual",
            disclosures=live.disclosures.get(r.id, (0, 0))[0],
            people_disclosed=live.disclosures.get(r.id, (0, 0))[1],
            outstanding_notices=live.outstanding_notices.get(r.id, 0),
        )
        for r in policy.recipients
    ]
    older = sum(n for v, n in live.keys_by_version.items() if v != live.kek_current)
    return Ropa(
        generated_at=generated_at,
        policy_title=policy.policy.title,
        policy_hash=content_hash(policy),
        articles=ARTICLES,
        controller=Controller(
            name=c.name,
            email=c.email,
            website=c.website,
            address=c.address,
            phone=c.phone,
            dpo_email=c.dpo_email,
            other_contacts=[f"{ch.label}: {ch.value}" for ch in c.contact_channels],
        ),
        purposes=[
            PurposeEntry(
                id=p.id,
                label=p.label,
                description=p.description,
                lawful_basis=p.lawful_basis.value,
                article=p.lawful_basis.article,
                interest=p.interest,
                categories=list(p.categories),
            )
            for p in policy.purposes
        ],
        data_subjects=DataSubjects(
            description=data_subjects_text(policy),
            by_status=dict(sorted(live.people.items())),
            total=sum(live.people.values()),
        ),
        categories=[
            CategoryEntry(
                id=cat.id,
                label=cat.label,
                group=cat.group.value,
                source=cat.source.value,
                description=cat.description,
                fields=[f.label for f in cat.fields],
                never_kept=list(cat.never_kept),
                purposes=[p.id for p in policy.purposes if cat.id in p.categories],
            )
            for cat in policy.categories
        ],
        recipients=recipients,
        transfers=[
            Transfer(recipient=r.id, country=r.country, safeguard=r.transfer_safeguard)
            for r in recipients
            if r.third_country
        ],
        retention=_retention(policy),
        security=Security(
            measures=security_measures(policy, live.audit.entries),
            keys=KeyFigures(
                kek_current=live.kek_current,
                kek_versions=live.kek_versions,
                data_keys_by_version=dict(sorted(live.keys_by_version.items())),
                data_keys_on_older_versions=older,
                last_rotation=live.last_rotation.isoformat() if live.last_rotation else None,
                rotation_note=rotation_words(
                    live.last_rotation, live.kek_current, older, sum(live.keys_by_version.values())
                ),
            ),
            audit=AuditSummary(
                entries=live.audit.entries,
                head_hash=live.audit.head_hash,
                verified_at=live.audit.verified_at,
                intact=live.audit.intact,
                broken_at=live.audit.broken_at,
                broken_place=live.audit.broken_place,
            ),
            outstanding_notices=sum(live.outstanding_notices.values()),
            overdue_notices=live.overdue_notices,
        ),
    )


_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("safehold.sharing", "templates"),
    autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",)),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_ENV.filters["t"] = md_text


def render_markdown(ropa: Ropa) -> str:
    return _ENV.get_template("ropa.md.j2").render(r=ropa).strip() + "\n"


def body_html(ropa: Ropa) -> Markup:
    """The record as HTML (markdown-it with raw HTML disabled: every value escaped)."""
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    return Markup(md.render(render_markdown(ropa)))  # noqa: S704 - raw HTML disabled


def render_html(ropa: Ropa) -> str:
    """A standalone page."""
    return _ENV.get_template("ropa.html.j2").render(r=ropa, body=body_html(ropa))
