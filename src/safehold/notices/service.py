"""Use cases of policy updates: publish a version, and record what people accepted.

Publishing validates the file, classifies the change against the latest version from the
rule diff (the operator may raise it to material, never lower it), refuses a material
change that would take effect before the policy's notice period, and stores the version
immutably. Services flush, never commit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from safehold.access.rules import Actor
from safehold.clock import Clock
from safehold.notices import rules
from safehold.notices.book import PolicyBook
from safehold.notices.errors import (
    ChangeClassLowered,
    EffectiveTooSoon,
    PolicyInvalid,
    PolicyUnchanged,
    VersionNotFound,
)
from safehold.notices.models import Acceptance, PolicyVersion, PolicyWithdrawal
from safehold.notices.schemas import AcceptanceOut, ChangeOut, DiffOut, SubjectPolicyOut
from safehold.policy import PolicyFileError, diff_policies, parse_policy
from safehold.policy.render import render_markdown
from safehold.policy.rules import content_hash
from safehold.subjects.models import Subject


@dataclass(frozen=True)
class Published:
    version: PolicyVersion
    previous: PolicyVersion | None


def latest(session: Session) -> PolicyVersion | None:
    """The newest version not withdrawn: the one a new version follows."""
    return session.scalars(
        select(PolicyVersion)
        .where(PolicyVersion.seq.not_in(select(PolicyWithdrawal.version_seq)))
        .order_by(PolicyVersion.seq.desc())
    ).first()


def get(session: Session, seq: int) -> PolicyVersion:
    version = session.get(PolicyVersion, seq)
    if version is None:
        raise VersionNotFound(f"there is no policy version v{seq}", details={"version": seq})
    return version


def version_by_label(session: Session, label: str) -> PolicyVersion | None:
    """``v3`` → version 3, if published and not withdrawn; other labels (a content hash)
    → None."""
    if label[:1] != "v" or not label[1:].isdigit():
        return None
    seq = int(label[1:])
    if session.get(PolicyWithdrawal, seq) is not None:
        return None
    return session.get(PolicyVersion, seq)


def versions(session: Session) -> list[PolicyVersion]:
    """Every published version, withdrawn ones included (they were posted)."""
    return list(session.scalars(select(PolicyVersion).order_by(PolicyVersion.seq)))


def withdrawals(session: Session) -> dict[int, PolicyWithdrawal]:
    return {w.version_seq: w for w in session.scalars(select(PolicyWithdrawal))}


@dataclass(frozen=True)
class Plan:
    """What publishing a file would do, before anything is stored: the preview staff see and
    confirm, and what :func:`publish` then stores."""

    seq: int
    previous: PolicyVersion | None
    source: str
    content_hash: str
    rendered_md: str
    change_class: str
    computed_class: str  # from the rule diff alone
    changes: list[dict[str, Any]]
    needs_acceptance: list[str]
    effective_at: datetime
    earliest: datetime


def plan(
    session: Session, *, source: str, source_name: str, effective_at: datetime | None,
    requested_class: str | None, clock: Clock, site: str | None = None,
) -> Plan:  # fmt: skip
    """Check a policy file as :func:`publish` would, and say what it would publish."""
    try:
        policy = parse_policy(source, source_name)
    except PolicyFileError as exc:
        raise PolicyInvalid(
            f"the policy has {len(exc.issues)} problem(s); the first: {exc.issues[0]}",
            details={"issues": [str(issue) for issue in exc.issues]},
        ) from None
    now = clock.now()
    previous = latest(session)
    digest = content_hash(policy)
    if previous is None:
        computed, changes, needs = rules.MINOR, [], []
    else:
        if previous.content_hash == digest:
            raise PolicyUnchanged(f"these rules are already published as v{previous.seq}")
        diff = diff_policies(parse_policy(previous.source, f"v{previous.seq}"), policy)
        computed = diff.change_class.value
        changes = [
            {"kind": c.kind, "subject": c.subject, "description": c.description,
             "change_class": c.change_class.value}
            for c in diff.changes
        ]  # fmt: skip
        needs = sorted(diff.purposes_needing_acceptance())
    try:
        change_class = rules.final_class(computed, requested_class)
    except rules.ClassLowered:
        raise ChangeClassLowered(
            "the rule changes make this a material change; it cannot be published as minor",
            details={"computed": computed},
        ) from None
    follows = previous.effective_at if previous else None
    earliest = rules.earliest_effective(now, change_class, policy, follows=follows)
    effective = effective_at or earliest
    if effective < earliest:
        raise EffectiveTooSoon(
            rules.too_soon_words(
                change_class, policy, earliest,
                follows=(previous.label, previous.effective_at) if previous else None,
            ),
            details={"earliest": earliest.isoformat(),
                     "earliest_date": rules.first_whole_day(earliest).isoformat()},
        )  # fmt: skip
    top = session.scalar(select(func.max(PolicyVersion.seq)))  # withdrawn ones included
    return Plan(
        seq=int(top or 0) + 1, previous=previous, source=source, content_hash=digest,
        rendered_md=render_markdown(policy, site=site), change_class=change_class,
        computed_class=computed, changes=changes,
        needs_acceptance=needs if change_class == rules.MATERIAL else [], effective_at=effective,
        earliest=earliest,
    )  # fmt: skip


def publish(
    session: Session,
    *,
    source: str,
    source_name: str,
    effective_at: datetime | None,
    requested_class: str | None,
    clock: Clock,
    actor: Actor,
    site: str | None = None,
) -> Published:
    planned = plan(
        session, source=source, source_name=source_name, effective_at=effective_at,
        requested_class=requested_class, clock=clock, site=site,
    )  # fmt: skip
    version = PolicyVersion(
        seq=planned.seq, content_hash=planned.content_hash, source=source,
        rendered_md=planned.rendered_md, change_class=planned.change_class,
        changes=planned.changes, needs_acceptance=planned.needs_acceptance,
        effective_at=planned.effective_at, published_at=clock.now(), published_by=str(actor),
    )  # fmt: skip
    session.add(version)
    session.flush()
    return Published(version, planned.previous)


def ensure_first_version(
    session: Session, *, source: str, clock: Clock, site: str | None = None
) -> PolicyVersion:
    """On a database with no published version, publish the policy file as v1, in force
    now — so every person can be linked to the version they were shown."""
    current = latest(session)
    if current is not None:
        return current
    return publish(
        session, source=source, source_name="the policy file", effective_at=None,
        requested_class=None, clock=clock, actor=Actor("system", "first-start"), site=site,
    ).version  # fmt: skip


def accepted_seq(session: Session, subject_id: uuid.UUID) -> int:
    """The newest version the person accepted (sign-up, explicit, or by continued use)."""
    seq = session.scalar(
        select(func.max(Acceptance.version_seq)).where(
            Acceptance.subject_id == subject_id,
            Acceptance.method.in_(rules.ACCEPTING_METHODS),
        )
    )
    return int(seq or 0)


def record(
    session: Session, subject_id: uuid.UUID, seq: int, *, method: str, channel: str,
    at: datetime, evidence: str | None, actor: Actor,
) -> Acceptance | None:  # fmt: skip
    """Add one record unless the same (person, version, method) is already on file."""
    exists = session.scalar(
        select(Acceptance.id).where(
            Acceptance.subject_id == subject_id,
            Acceptance.version_seq == seq,
            Acceptance.method == method,
        )
    )
    if exists is not None:
        return None
    row = Acceptance(
        subject_id=subject_id, version_seq=seq, method=method, channel=channel, at=at,
        evidence=evidence, actor=str(actor),
    )  # fmt: skip
    session.add(row)
    session.flush()
    return row


def note_activity(
    session: Session, book: PolicyBook, subject: Subject, *, channel: str, clock: Clock,
    actor: Actor,
) -> rules.ActivityOutcome:  # fmt: skip
    """The person used the service: accept minor changes by continued use (if the policy
    says so); for material ones record only that the person was notified."""
    now = clock.now()
    outcome = rules.on_activity(
        book.facts(), accepted_seq(session, subject.id), now,
        minor_by_use=book.policy(now).changes.continued_use_accepts_minor,
    )  # fmt: skip
    if outcome.accepted is not None:
        record(session, subject.id, outcome.accepted, method="continued_use", channel=channel,
               at=now, evidence=actor.request_id, actor=actor)  # fmt: skip
    for seq in outcome.notified:
        record(session, subject.id, seq, method="notified", channel=channel, at=now,
               evidence=actor.request_id, actor=actor)  # fmt: skip
    return outcome


def accept(
    session: Session, book: PolicyBook, subject: Subject, *, channel: str, clock: Clock,
    actor: Actor, seq: int | None = None,
) -> Acceptance | None:  # fmt: skip
    """Explicit acceptance of the version in force (or a given one already in force)."""
    now = clock.now()
    current = book.in_force(now)
    if current is None:
        raise VersionNotFound("no policy version has been published yet")
    target = current.facts.seq if seq is None else seq
    withdrawn = session.get(PolicyWithdrawal, target) is not None
    if target > current.facts.seq or get(session, target).effective_at > now or withdrawn:
        raise VersionNotFound(f"v{target} is not in force", details={"version": target})
    return record(session, subject.id, target, method="explicit", channel=channel, at=now,
                  evidence=actor.request_id, actor=actor)  # fmt: skip


def pending_purposes(
    session: Session, book: PolicyBook, subject_id: uuid.UUID, now: datetime
) -> frozenset[str]:
    return rules.pending_purposes(book.facts(), accepted_seq(session, subject_id), now)


@dataclass(frozen=True)
class Standing:
    subject_id: uuid.UUID
    status: str  # accepted | notified | pending
    accepted_seq: int
    how: str | None  # the method of the newest accepting record
    at: datetime | None


def standings(session: Session, seq: int) -> list[Standing]:
    """For every person not erased: have they accepted ``seq`` (or later), only been
    notified of it, or neither yet?"""
    get(session, seq)
    newest = (
        select(
            Acceptance.subject_id,
            func.max(Acceptance.version_seq).label("seq"),
        )
        .where(Acceptance.method.in_(rules.ACCEPTING_METHODS))
        .group_by(Acceptance.subject_id)
        .subquery()
    )
    rows = session.execute(
        select(Subject.id, newest.c.seq)
        .outerjoin(newest, newest.c.subject_id == Subject.id)
        .where(Subject.status != "erased")
        .order_by(Subject.created_at, Subject.id)
    ).all()
    records = {
        (r.subject_id, r.version_seq, r.method): r for r in session.scalars(select(Acceptance))
    }
    out = []
    for subject_id, newest_seq in rows:
        best = int(newest_seq or 0)
        if best >= seq:
            hit = next(
                (records.get((subject_id, best, m)) for m in ("explicit", "continued_use",
                 "sign_up") if records.get((subject_id, best, m))), None,
            )  # fmt: skip
            out.append(Standing(subject_id, "accepted", best, hit.method if hit else None,
                                hit.at if hit else None))  # fmt: skip
        elif (note := records.get((subject_id, seq, "notified"))) is not None:
            out.append(Standing(subject_id, "notified", best, "notified", note.at))
        else:
            out.append(Standing(subject_id, "pending", best, None, None))
    return out


@dataclass(frozen=True)
class Progress:
    """How far a version got: people (not erased) who accepted it or a later one, people
    only notified of it, and everyone who could."""

    accepted: int
    notified: int
    total: int


def progress(session: Session) -> dict[int, Progress]:
    """:class:`Progress` of every version, from three aggregate queries (not per person)."""
    accepting = Acceptance.method.in_(rules.ACCEPTING_METHODS)
    newest = (
        select(Acceptance.subject_id, func.max(Acceptance.version_seq).label("seq"))
        .where(accepting)
        .group_by(Acceptance.subject_id)
        .subquery()
    )
    alive = Subject.status != "erased"
    total = int(session.scalar(select(func.count()).select_from(Subject).where(alive)) or 0)
    by_newest: dict[int, int] = dict(
        session.execute(
            select(newest.c.seq, func.count())
            .join(Subject, Subject.id == newest.c.subject_id)
            .where(alive)
            .group_by(newest.c.seq)
        ).all()
    )
    notified: dict[int, int] = dict(
        session.execute(
            select(Acceptance.version_seq, func.count(func.distinct(Acceptance.subject_id)))
            .join(Subject, Subject.id == Acceptance.subject_id)
            .outerjoin(newest, newest.c.subject_id == Acceptance.subject_id)
            .where(
                alive,
                Acceptance.method == "notified",
                func.coalesce(newest.c.seq, 0) < Acceptance.version_seq,
            )
            .group_by(Acceptance.version_seq)
        ).all()
    )
    seqs = session.scalars(select(PolicyVersion.seq)).all()
    return {
        seq: Progress(
            sum(n for s, n in by_newest.items() if s >= seq),
            int(notified.get(seq, 0)),
            total,
        )
        for seq in seqs
    }


def compare(session: Session, old_seq: int, new_seq: int) -> DiffOut:
    old, new = get(session, old_seq), get(session, new_seq)
    diff = diff_policies(parse_policy(old.source, old.label), parse_policy(new.source, new.label))
    return DiffOut(
        from_version=old.seq, to_version=new.seq, change_class=diff.change_class.value,
        changes=[ChangeOut(kind=c.kind, subject=c.subject, description=c.description,
                           change_class=c.change_class.value) for c in diff.changes],
        text_diff=rules.text_diff(old.rendered_md, new.rendered_md, old.label, new.label),
    )  # fmt: skip


def standing_of(
    session: Session, book: PolicyBook, subject_id: uuid.UUID, now: datetime
) -> SubjectPolicyOut:
    current = book.in_force(now)
    records = session.scalars(
        select(Acceptance).where(Acceptance.subject_id == subject_id).order_by(Acceptance.at)
    )
    accepted = accepted_seq(session, subject_id)
    facts = book.facts()
    return SubjectPolicyOut(
        in_force=current.facts.seq if current else None,
        accepted_version=accepted,
        pending_purposes=sorted(rules.pending_purposes(facts, accepted, now)),
        pending_versions=list(rules.pending_versions(facts, accepted, now)),
        handled_under=rules.handled_under(facts, accepted, now),
        records=[AcceptanceOut.model_validate(r) for r in records],
    )
