"""The retention run: apply every retention rule of the policy, unattended.

* **event months** past the longest period of the categories stored in them are dropped whole
  (``aggregate_then_delete``: the roll-up hook runs first; without one the month is kept and
  the report says why). A month holding rows of a person under a legal hold is not dropped:
  its other rows are deleted, the held rows stay until the hold ends;
* **personal values and cards** of a retention class whose period has ended for the person
  (after closure, after last activity) are crypto-shredded (the class's key) and deleted;
  ``collected`` classes are deleted row by row, the key shredded once no row is left;
* **login history and devices** past their periods are deleted.

Each unit of work (a month, a batch of people, a batch of rows) is one transaction, and what
is due is found again from the data at every start: a crash loses at most the batch in
flight, a re-run carries on where it stopped, and a finished run finds nothing left to do.
Anything under a legal hold is skipped and reported with the hold's reason and end.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, exists, func, or_, select, tuple_
from sqlalchemy.orm import Session, sessionmaker

from safehold.access import audit
from safehold.access.rules import Actor
from safehold.analytics import jobs as analytics_jobs
from safehold.db import transaction
from safehold.events import jobs as events_jobs
from safehold.events import rules as event_rules
from safehold.events import storage
from safehold.events.models import Login, SubjectDevice
from safehold.events.service import DEVICE_CATEGORY, NETWORK_CATEGORY
from safehold.policy.document import Policy, RetentionAction, RetentionFrom
from safehold.retention import rules
from safehold.retention.models import LegalHold
from safehold.runtime import Runtime
from safehold.subjects.models import PaymentMethod, PersonalValue, Subject
from safehold.subjects.rules import PAYMENT
from safehold.vault.models import DataKey
from safehold.vault.service import Vault

SYSTEM = Actor("system", "retention")
PURPOSE = "legal_obligation"  # storage limitation, Art. 5(1)(e): the controller's duty
DAILY_SECONDS = 24 * 3600.0
BeforeDrop = Callable[[Session, date], None]


@dataclass
class HeldBack:
    hold_id: str
    reason: str
    legal_basis: str
    until: datetime
    people: set[str] = field(default_factory=set)
    rows: int = 0


@dataclass
class Line:
    """What the run did for one category."""

    category: str
    retention_class: str
    action: str
    deleted: int = 0  # rows deleted (events: rows in the dropped months)
    people: int = 0  # people whose data of this category was deleted
    shredded: int = 0  # data keys destroyed
    months: list[str] = field(default_factory=list)
    held: dict[str, HeldBack] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class Report:
    at: datetime
    dry_run: bool
    lines: dict[tuple[str, str], Line] = field(default_factory=dict)

    def line(self, category: str, retention_class: str, action: str) -> Line:
        key = (category, retention_class)
        if key not in self.lines:
            self.lines[key] = Line(category, retention_class, action)
        return self.lines[key]

    @property
    def work(self) -> int:
        return sum(x.deleted + x.shredded + len(x.months) for x in self.lines.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "dry_run": self.dry_run,
            "categories": [
                {
                    "category": x.category,
                    "retention_class": x.retention_class,
                    "action": x.action,
                    "deleted": x.deleted,
                    "people": x.people,
                    "keys_shredded": x.shredded,
                    "months_dropped": x.months,
                    "held_back": [
                        {
                            "hold_id": h.hold_id,
                            "reason": h.reason,
                            "legal_basis": h.legal_basis,
                            "until": h.until.isoformat(),
                            "people": len(h.people),
                            "rows": h.rows,
                        }
                        for h in x.held.values()
                    ],
                    "notes": x.notes,
                }
                for x in sorted(self.lines.values(), key=lambda x: (x.category, x.retention_class))
            ],
        }


@dataclass(frozen=True)
class Env:
    sessions: sessionmaker[Session]
    policy: Policy
    vault: Vault
    now: datetime
    dry_run: bool
    report: Report


def _holds(session: Session, now: datetime) -> list[rules.ActiveHold]:
    found = session.scalars(select(LegalHold).where(LegalHold.lifted_at.is_(None)))
    return [
        rules.ActiveHold(str(h.id), str(h.subject_id), frozenset(h.categories), h.reason,
                         h.legal_basis, h.until)
        for h in found if rules.is_active(h.lifted_at, h.until, now)
    ]  # fmt: skip


def _note_held(line: Line, held: Iterable[rules.ActiveHold], subject_id: str, rows: int) -> None:
    for hold in held:
        entry = line.held.setdefault(
            hold.id, HeldBack(hold.id, hold.reason, hold.legal_basis, hold.until)
        )
        entry.people.add(subject_id)
        entry.rows += rows


def _audit(session: Session, env: Env, action: str, subject_id: uuid.UUID | None,
           categories: Sequence[str]) -> None:  # fmt: skip
    audit.record(
        session, actor=SYSTEM, action=action, subject_id=subject_id, categories=categories,
        purpose=PURPOSE, outcome="ok", clock=_Fixed(env.now),
    )  # fmt: skip


@dataclass(frozen=True)
class _Fixed:
    at: datetime

    def now(self) -> datetime:
        return self.at


def _count(session: Session, query: Select[Any] | Select[Any, Any]) -> int:
    return int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)


# --- 1. event months ----------------------------------------------------------------------


def sweep_event_months(env: Env, before_drop: BeforeDrop | None) -> None:
    policy = env.policy
    categories = sorted(events_jobs.stored_categories(policy))
    if not categories:
        return
    by_rule = {c: policy.retention_rule_for(c) for c in categories}
    aggregate = [
        c for c in categories if by_rule[c].action is RetentionAction.AGGREGATE_THEN_DELETE
    ]
    with env.sessions() as session:
        months = storage.months(session)
    expired = set(months)
    for category in categories:
        expired &= set(event_rules.expired_months(months, env.now, by_rule[category].period))
    lines = [env.report.line(c, by_rule[c].id, "drop_months") for c in categories]
    if aggregate and before_drop is None:
        for line in lines:
            if expired and line.category in aggregate:
                line.notes.append(
                    f"{len(expired)} expired month(s) kept: the rule says aggregate then delete "
                    "and no analytics roll-up is available"
                )
        return
    for month in sorted(expired):
        with transaction(env.sessions) as session:
            _one_month(session, env, month, categories, lines, before_drop if aggregate else None)


def _one_month(
    session: Session, env: Env, month: date, categories: list[str], lines: list[Line],
    before_drop: BeforeDrop | None,
) -> None:  # fmt: skip
    table = storage.month_table(event_rules.partition_name(month))
    holds = [h for h in _holds(session, env.now) if h.categories & set(categories)]
    held_pairs = [
        (uuid.UUID(h.subject_id), c) for h in holds for c in h.categories & set(categories)
    ]
    is_held = tuple_(table.c.subject_id, table.c.category).in_(held_pairs) if held_pairs else None
    per_category: dict[str, int] = dict(
        session.execute(select(table.c.category, func.count()).group_by(table.c.category)).all()
    )
    held_rows: dict[tuple[str, str], int] = {}
    if is_held is not None:
        for sid, category, n in session.execute(
            select(table.c.subject_id, table.c.category, func.count())
            .where(is_held)
            .group_by(table.c.subject_id, table.c.category)
        ):
            held_rows[(str(sid), category)] = int(n)
    for line in lines:
        total = int(per_category.get(line.category, 0))
        kept = 0
        for (sid, category), n in held_rows.items():
            if category == line.category:
                kept += n
                _note_held(line, rules.holding(holds, sid, [category]), sid, n)
        line.deleted += total - kept
        if not held_rows:
            line.months.append(month.isoformat()[:7])
        if kept:
            line.notes.append(f"{month.isoformat()[:7]}: month kept for rows under a legal hold")
    freed = sum(per_category.values()) - sum(held_rows.values())
    if env.dry_run or (held_rows and not freed):
        return  # nothing to change (a held month already trimmed: no second roll-up)
    if before_drop is not None:
        before_drop(session, month)
    if is_held is None or not held_rows:
        storage.drop_month(session, month)
        action = "retention.events.drop_month"
    else:  # rows under a hold stay (the month with them) until the hold ends
        session.execute(delete(table).where(~is_held))
        action = "retention.events.delete_unheld"
    _audit(session, env, action, None, categories)


# --- 2. personal values and cards, by retention class ---------------------------------------


def _stored_in_vault(policy: Policy) -> list[rules.ClassRule]:
    """Classes whose data lives in personal values and cards (not events, logins, devices)."""
    events = policy.events
    elsewhere = events_jobs.stored_categories(policy) | {
        DEVICE_CATEGORY, NETWORK_CATEGORY, events.category_of(events.login_event) or "",
    }  # fmt: skip
    return [r for r in rules.class_rules(policy) if not set(r.categories) & elsewhere]


def sweep_classes(env: Env, on_unit: Callable[[str], None] | None = None) -> None:
    for klass in _stored_in_vault(env.policy):
        whole = klass.start is not RetentionFrom.COLLECTED
        for category in klass.categories:  # every class is reported, also with nothing due
            env.report.line(category, klass.retention_class, _action(whole))
        if klass.start is RetentionFrom.COLLECTED:
            _sweep_collected(env, klass)
        else:
            _sweep_people(env, klass)
        if on_unit is not None:
            on_unit(klass.retention_class)


def _action(whole: bool) -> str:
    return "shred_and_delete" if whole else "delete"


def _card_classes(policy: Policy) -> tuple[str, str]:
    return (policy.retention_class(PAYMENT, "processor_token"),
            policy.retention_class(PAYMENT, "last4"))  # fmt: skip


def _has_data(klass: str, token_class: str, record_class: str) -> ColumnElement[bool]:
    """The person still has something under this class: a key, a value, a card part."""
    parts = [
        exists().where(DataKey.subject_id == Subject.id, DataKey.retention_class == klass),
        exists().where(
            PersonalValue.subject_id == Subject.id, PersonalValue.retention_class == klass
        ),
    ]
    if klass == token_class:
        parts.append(
            exists().where(PaymentMethod.subject_id == Subject.id, PaymentMethod.token != b"")
        )
    elif klass == record_class:
        parts.append(exists().where(PaymentMethod.subject_id == Subject.id))
    return or_(*parts)


def _sweep_people(env: Env, klass: rules.ClassRule) -> None:
    """Whole-person periods (after closure, after last activity): shred the class, delete."""
    token_class, record_class = _card_classes(env.policy)
    cutoff = event_rules.retention_cutoff(env.now, klass.period)
    start = (
        Subject.closed_at
        if klass.start is RetentionFrom.ACCOUNT_CLOSED
        else Subject.last_activity_at
    )
    after: uuid.UUID | None = None
    while True:
        with transaction(env.sessions) as session:
            query = (
                select(Subject.id, Subject.last_activity_at, Subject.closed_at)
                .where(start.isnot(None), start <= cutoff, Subject.status != "erased",
                       _has_data(klass.retention_class, token_class, record_class))
                .order_by(Subject.id).limit(rules.BATCH)
            )  # fmt: skip
            if after is not None:
                query = query.where(Subject.id > after)
            batch = session.execute(query).all()
            if not batch:
                return
            holds = _holds(session, env.now)
            for sid, last_activity, closed_at in batch:
                times = rules.PersonTimes(last_activity, closed_at)
                if rules.is_due(rules.person_start(times, klass.start), klass.period, env.now):
                    _expire_person(session, env, klass, sid, holds, whole=True)
            after = batch[-1][0]


def _sweep_collected(env: Env, klass: rules.ClassRule) -> None:
    """``collected`` periods run per row: delete what outlived its period; shred the key once
    the person has nothing left under the class."""
    token_class, record_class = _card_classes(env.policy)
    cutoff = event_rules.retention_cutoff(env.now, klass.period)
    old_value = exists().where(
        PersonalValue.subject_id == Subject.id,
        PersonalValue.retention_class == klass.retention_class,
        PersonalValue.updated_at <= cutoff,
    )
    due = [old_value]
    if klass.retention_class in (token_class, record_class):
        due.append(
            exists().where(
                PaymentMethod.subject_id == Subject.id, PaymentMethod.created_at <= cutoff
            )
        )
    after: uuid.UUID | None = None
    while True:
        with transaction(env.sessions) as session:
            query = select(Subject.id).where(Subject.status != "erased", or_(*due))
            query = query.order_by(Subject.id).limit(rules.BATCH)
            if after is not None:
                query = query.where(Subject.id > after)
            batch = list(session.scalars(query))
            if not batch:
                return
            holds = _holds(session, env.now)
            for sid in batch:
                _expire_person(session, env, klass, sid, holds, whole=False, cutoff=cutoff)
            after = batch[-1]


def _expire_person(
    session: Session, env: Env, klass: rules.ClassRule, sid: uuid.UUID,
    holds: list[rules.ActiveHold], *, whole: bool, cutoff: datetime | None = None,
) -> None:  # fmt: skip
    """Delete one person's due data of a class; shred its key unless a hold or a newer row
    keeps it. ``whole``: the period ran out for everything in the class at once."""
    token_class, record_class = _card_classes(env.policy)
    held = rules.held_categories(holds, str(sid)) & set(klass.categories)
    values = select(PersonalValue).where(
        PersonalValue.subject_id == sid, PersonalValue.retention_class == klass.retention_class
    )
    rows = list(session.scalars(values))
    due_rows = [r for r in rows if whole or (cutoff is not None and r.updated_at <= cutoff)]
    cards = list(session.scalars(select(PaymentMethod).where(PaymentMethod.subject_id == sid)))
    card_class = klass.retention_class in (token_class, record_class)
    due_cards = [
        c
        for c in cards
        if card_class and (whole or (cutoff is not None and c.created_at <= cutoff))
    ]
    gone: dict[str, int] = {}
    kept_rows = 0
    for row in due_rows:
        if row.category in held:
            kept_rows += 1
            continue
        gone[row.category] = gone.get(row.category, 0) + 1
        if not env.dry_run:
            session.delete(row)
    if due_cards and PAYMENT in held:
        kept_rows += len(due_cards)
    elif due_cards:
        for card in due_cards:
            if klass.retention_class == record_class:
                if not env.dry_run:
                    session.delete(card)
                gone[PAYMENT] = gone.get(PAYMENT, 0) + 1
            elif card.token != b"":
                if not env.dry_run:
                    card.token = b""  # its key is shredded below; the ciphertext goes too
                gone[PAYMENT] = gone.get(PAYMENT, 0) + 1
    left = len(rows) - sum(v for k, v in gone.items() if k != PAYMENT)
    cards_left = (
        card_class and klass.retention_class == record_class and len(cards) > len(due_cards)
    )
    shred = not held and left == 0 and not cards_left
    destroyed: list[str] = []
    if shred and not env.dry_run:
        destroyed = env.vault.shred(session, sid, [klass.retention_class])
    elif shred:
        key = select(DataKey.retention_class).where(
            DataKey.subject_id == sid, DataKey.retention_class == klass.retention_class
        )
        destroyed = list(session.scalars(key))
    action = _action(whole)
    for category in klass.categories:
        line = env.report.line(category, klass.retention_class, action)
        if gone.get(category):
            line.deleted += gone[category]
            line.people += 1
        if category in held:
            _note_held(line, rules.holding(holds, str(sid), [category]), str(sid), 0)
    if destroyed:
        env.report.line(klass.categories[0], klass.retention_class, action).shredded += 1
    if kept_rows:
        first_held = sorted(held)[0]
        env.report.line(first_held, klass.retention_class, action).held[
            rules.holding(holds, str(sid), [first_held])[0].id
        ].rows += kept_rows
    if (gone or destroyed) and not env.dry_run:
        _audit(session, env, f"retention.{action}", sid, sorted(gone) or list(klass.categories))
    session.flush()


# --- 3. login history and devices ----------------------------------------------------------


def sweep_usage_tables(env: Env) -> None:
    policy = env.policy
    login_category = policy.events.category_of(policy.events.login_event) or "usage.login"
    logins = policy.retention_rule_for(login_category)
    devices = policy.retention_rule_for(DEVICE_CATEGORY)
    login_time = Login.logged_in_at if logins.from_ is RetentionFrom.COLLECTED else func.coalesce(
        Login.logged_out_at, Login.logged_in_at)  # fmt: skip
    device_time = SubjectDevice.first_seen_at if devices.from_ is RetentionFrom.COLLECTED else (
        SubjectDevice.last_seen_at)  # fmt: skip
    _sweep_rows(env, Login, login_time, login_category, logins.id, logins.period)
    _sweep_rows(env, SubjectDevice, device_time, DEVICE_CATEGORY, devices.id, devices.period)


def _sweep_rows(
    env: Env, model: type[Login] | type[SubjectDevice], time: ColumnElement[datetime] | Any,
    category: str, retention_class: str, period: str,
) -> None:  # fmt: skip
    line = env.report.line(category, retention_class, "delete")
    cutoff = event_rules.retention_cutoff(env.now, period)
    with env.sessions() as session:
        holds = [h for h in _holds(session, env.now) if category in h.categories]
    held_ids = sorted({uuid.UUID(h.subject_id) for h in holds})
    due = select(model.id, model.subject_id).where(time <= cutoff)
    with env.sessions() as session:
        for sid, n in session.execute(
            select(model.subject_id, func.count())
            .where(time <= cutoff, model.subject_id.in_(held_ids))
            .group_by(model.subject_id)
        ):
            _note_held(line, rules.holding(holds, str(sid), [category]), str(sid), int(n))
    free = due.where(model.subject_id.not_in(held_ids)) if held_ids else due
    if env.dry_run:
        with env.sessions() as session:
            line.deleted += _count(session, free)
            whose = free.with_only_columns(model.subject_id).distinct()
            line.people += _count(session, whose)
        return
    people: set[uuid.UUID] = set()
    while True:
        with transaction(env.sessions) as session:
            batch = session.execute(free.order_by(model.id).limit(rules.BATCH)).all()
            if not batch:
                break
            session.execute(delete(model).where(model.id.in_([row[0] for row in batch])))
            line.deleted += len(batch)
            people |= {row[1] for row in batch}
            _audit(session, env, "retention.delete", None, [category])
    line.people += len(people)


# --- the run ---------------------------------------------------------------------------------


UNITS = ("event months", "account data", "login history and devices")


def run(
    runtime: Runtime, *, dry_run: bool = False, before_drop: BeforeDrop | None = None,
    on_unit: Callable[[str], None] | None = None,
) -> Report:  # fmt: skip
    """One retention run at the runtime clock's now; returns the report. ``before_drop``:
    the analytics roll-up for ``aggregate_then_delete`` months (None: such months are kept)."""
    now = runtime.clock.now()
    env = Env(runtime.sessions, runtime.policy, runtime.vault, now, dry_run, Report(now, dry_run))
    sweep_event_months(env, before_drop)
    if on_unit is not None:
        on_unit(UNITS[0])
    sweep_classes(env)
    if on_unit is not None:
        on_unit(UNITS[1])
    sweep_usage_tables(env)
    if on_unit is not None:
        on_unit(UNITS[2])
    network = env.report.line(
        NETWORK_CATEGORY, runtime.policy.retention_rule_for(NETWORK_CATEGORY).id, "clear"
    )
    network.notes.append("addresses are cleared by the hourly events maintenance job")
    return env.report


def daily(runtime: Runtime) -> int:
    """The worker's retention job: one run, with the analytics roll-up fed before a month of
    ``aggregate_then_delete`` events goes; its work count (0 when nothing was due)."""
    return run(runtime, before_drop=analytics_jobs.before_drop(runtime)).work
