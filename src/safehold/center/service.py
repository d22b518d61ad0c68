"""What the privacy center's pages show, assembled from the services that own the data.

Every read of personal data goes through its owner's use case (``subjects.service.read``,
``events.history``, ``comms.service.preference``) with the signed-in person as the actor and
:data:`rules.PURPOSE` as the purpose, so the policy decides and the audit log records it as
for any other reader. Services flush, never commit: the route commits the audit entries.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from safehold.access import audit
from safehold.access.rules import Actor
from safehold.analytics import service as analytics
from safehold.center import rules
from safehold.comms import service as comms
from safehold.events import history
from safehold.events import service as events
from safehold.events.models import SubjectDevice
from safehold.notices import rules as notice_rules
from safehold.notices import service as notices
from safehold.notices.book import PolicyBook
from safehold.notices.models import PolicyVersion
from safehold.requests import holdings
from safehold.requests import service as requests
from safehold.runtime import Runtime
from safehold.sharing import service as sharing
from safehold.subjects import payments
from safehold.subjects import service as subjects
from safehold.subjects.errors import PurposeRefused
from safehold.subjects.models import Subject
from safehold.subjects.rules import PAYMENT


@dataclass(frozen=True)
class Context:
    subjects: subjects.Context
    requests: requests.Context
    events: events.Context
    comms: comms.Context
    book: PolicyBook


def context(runtime: Runtime) -> Context:
    policy, clock, vault, book = runtime.policy, runtime.clock, runtime.vault, runtime.book
    mail = comms.context(runtime)
    return Context(
        subjects=subjects.Context(vault, policy, clock, book),
        requests=requests.Context(vault, policy, clock, mail),
        events=events.Context(vault, policy, clock, book),
        comms=mail,
        book=book,
    )


# --- /me: what is held, why, who received it, how long ------------------------------------


@dataclass(frozen=True)
class CategoryView:
    id: str
    label: str
    description: str
    values: list[tuple[str, str]]  # (field label, value)
    held: bool  # anything of this category is stored (requests.holdings)
    count: str | None  # what is stored, in words, for what is not shown as values
    purposes: list[tuple[str, str]]  # (purpose id, label): described once, in Overview
    received_by: list[sharing.PersonDisclosure]
    kept_for: str
    kept_why: str
    kept_longer: list[str]  # the rule's exceptions, in words


@dataclass
class Overview:
    categories: list[CategoryView] = field(default_factory=list)
    purposes: list[rules.PurposeWords] = field(default_factory=list)  # each once
    refused: str | None = None  # why the values cannot be shown now (the policy's answer)


def _values(
    session: Session, ctx: Context, sid: uuid.UUID, actor: Actor
) -> tuple[dict[str, dict[str, str]], str | None]:
    """The person's account values for :data:`rules.PURPOSE` (decided and audited by
    ``subjects.read``); a refusal is kept in the log and told to the person."""
    try:
        view = subjects.read(session, ctx.subjects, sid, purpose=rules.PURPOSE, actor=actor)
    except PurposeRefused as refused:
        return {}, refused.message
    data = dict(view.data)
    if PAYMENT in view.decision.allowed:
        cards = payments.views(session, ctx.subjects, sid)
        data.update({PAYMENT: {"card": ", ".join(str(v.card) for v in cards)}} if cards else {})
    return data, None


def overview(session: Session, ctx: Context, sid: uuid.UUID, *, actor: Actor) -> Overview:
    policy = ctx.subjects.policy
    data, refused = _values(session, ctx, sid, actor)
    stored = holdings.holdings(session, policy, sid)
    received = sharing.disclosures_for(session, ctx.subjects, sid)
    out = Overview(refused=refused, purposes=rules.purposes_in_words(policy))
    for category in policy.categories:
        rule = policy.retention_rule_for(category.id)
        labels = {f.name: f.label for f in category.fields}
        held = data.get(category.id, {})
        values = [(labels.get(name, name.replace("_", " ")), value) for name, value in held.items()]
        if category.id == PAYMENT and held:
            values = [("card", held["card"])]
        out.categories.append(
            CategoryView(
                id=category.id, label=category.label, description=category.description,
                values=values, held=stored.held(category.id),
                count=holdings.words(stored.counts.get(category.id, {})) or None,
                purposes=rules.purposes_of(policy, category.id),
                received_by=[d for d in received if category.id in d.categories],
                kept_for=rules.retention_words(rule), kept_why=rule.reason,
                kept_longer=[
                    f"{x.description}: {rules.retention_words_of(x.period, x.from_)} "
                    f"({x.legal_basis or x.reason})"
                    for x in policy.exceptions_for(category.id)
                ],
            )
        )  # fmt: skip
    return out


def current_details(
    session: Session, ctx: Context, sid: uuid.UUID, *, actor: Actor
) -> tuple[dict[str, str], str | None]:
    """The details form's values (field -> value), read like any other read."""
    data, refused = _values(session, ctx, sid, actor)
    flat = {
        "name": data.get("account.name", {}).get("full_name", ""),
        "email": data.get("account.email", {}).get("email", ""),
        "phone": data.get("account.phone", {}).get("phone", ""),
    }
    address = data.get("account.address", {})
    flat.update({part: address.get(part, "") for part in rules.ADDRESS_PARTS})
    return flat, refused


# --- /me/devices, /me/marketing, /me/policy -----------------------------------------------


@dataclass
class Devices:
    devices: list[SubjectDevice] = field(default_factory=list)
    logins: list[history.LoginView] = field(default_factory=list)
    last_login_at: datetime | None = None
    refused: str | None = None


def devices(session: Session, ctx: Context, sid: uuid.UUID, *, actor: Actor) -> Devices:
    try:
        _, found = history.devices(session, ctx.events, sid, purpose=rules.PURPOSE, actor=actor)
        logins = history.login_history(
            session, ctx.events, sid, purpose=rules.PURPOSE, actor=actor, limit=rules.RECENT_LOGINS
        )
    except PurposeRefused as refused:
        return Devices(refused=refused.message)
    return Devices(found, logins.logins, logins.last_login_at)


def marketing(session: Session, ctx: Context, sid: uuid.UUID, *, actor: Actor) -> comms.Preference:
    return comms.preference(session, ctx.comms, sid, actor=actor)


def choose_marketing(
    session: Session, ctx: Context, sid: uuid.UUID, *, actor: Actor, receive: bool
) -> comms.Preference:
    """Effective at once: an opt-out skips pending marketing mail in this transaction."""
    choice = "opted_in" if receive else "opted_out"
    return comms.set_preference(
        session, ctx.comms, sid, choice=choice, channel=rules.CHANNEL, actor=actor
    )


@dataclass(frozen=True)
class PendingVersion:
    """A material version in force the person has not accepted, in the differ's words."""

    seq: int
    effective_at: datetime
    held: list[str]  # changes that wait for the person's acceptance
    everyone: list[str]  # material changes that apply to everyone all the same


@dataclass(frozen=True)
class PolicyStanding:
    accepted: int  # 0: no published version accepted yet
    in_force: int | None  # None: nothing published yet (the operator's file applies)
    in_force_since: datetime | None
    pending: list[str]  # labels of purposes waiting for the person's acceptance
    records: list[tuple[str, str, datetime]]  # (version label, how, when)
    versions: list[PendingVersion] = field(default_factory=list)
    handled_under: int | None = None  # the version applied to them until they accept

    @property
    def can_accept(self) -> bool:
        return self.in_force is not None and bool(self.versions or self.pending)


def policy_standing(session: Session, ctx: Context, sid: uuid.UUID) -> PolicyStanding:
    now = ctx.subjects.clock.now()
    subjects.get(session, sid)
    standing = notices.standing_of(session, ctx.book, sid, now)
    current = ctx.book.in_force(now)
    policy = ctx.subjects.policy
    labels = {p.id: p.label for p in policy.purposes}
    return PolicyStanding(
        accepted=standing.accepted_version, in_force=standing.in_force,
        in_force_since=current.facts.effective_at if current else None,
        pending=[labels.get(p, p) for p in standing.pending_purposes],
        records=[(f"v{r.version}", r.method, r.at) for r in standing.records],
        versions=[_pending(notices.get(session, seq)) for seq in standing.pending_versions],
        handled_under=standing.handled_under,
    )  # fmt: skip


def _pending(version: PolicyVersion) -> PendingVersion:
    material = [c for c in version.changes if c["change_class"] == notice_rules.MATERIAL]
    return PendingVersion(
        version.seq, version.effective_at,
        held=[str(c["description"]) for c in material if notice_rules.held_back(str(c["kind"]))],
        everyone=[
            str(c["description"]) for c in material if not notice_rules.held_back(str(c["kind"]))
        ],
    )  # fmt: skip


def accept_policy(session: Session, ctx: Context, sid: uuid.UUID, *, actor: Actor) -> None:
    """Explicit acceptance of the version in force, recorded with this session as evidence."""
    subject: Subject = subjects.get(session, sid)
    notices.accept(
        session, ctx.book, subject, channel=rules.CHANNEL, clock=ctx.subjects.clock, actor=actor
    )
    audit.record(
        session, actor=actor, action="policy.accept.privacy_center", subject_id=sid,
        categories=[], purpose=rules.PURPOSE, outcome="ok", clock=ctx.subjects.clock,
    )  # fmt: skip


# --- /me/objections -------------------------------------------------------------------------


@dataclass(frozen=True)
class ObjectionChoice:
    """A purpose the person may object to here, and where their objection stands."""

    purpose: str
    label: str
    description: str
    basis: str
    since: datetime | None  # the objection in force since (None: not objecting now)
    history: list[tuple[datetime, datetime | None]]  # (objected, withdrawn) oldest first


def objectable(ctx: Context) -> list[str]:
    """The purposes the policy lets a person object to (Art. 21: every purpose based on
    legitimate interests must be, the validator says so), except marketing, whose opt-out
    is its own page."""
    return [p.id for p in ctx.subjects.policy.purposes if p.objectable and not p.is_marketing]


def objections(session: Session, ctx: Context, sid: uuid.UUID) -> list[ObjectionChoice]:
    """Each objectable purpose with the person's objections to it. Objections are facts
    about the person's choices, not personal data values: listing them is not an audited
    read (like the request log)."""
    policy = ctx.subjects.policy
    made = analytics.history(session, sid)
    out = []
    for pid in objectable(ctx):
        purpose = policy.purpose(pid)
        mine = [o for o in made if o.purpose == pid]
        open_ = next((o for o in mine if o.withdrawn_at is None), None)
        out.append(
            ObjectionChoice(
                purpose=pid, label=purpose.label, description=purpose.description,
                basis=str(purpose.lawful_basis).replace("_", " "),
                since=open_.objected_at if open_ else None,
                history=[(o.objected_at, o.withdrawn_at) for o in mine],
            )
        )  # fmt: skip
    return out
