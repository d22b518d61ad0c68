"""Compare two policy versions and classify every change as minor or material.

The class decides how a change is published: a *minor* change takes effect when posted
(continued use accepts it), a *material* one needs notice and explicit acceptance. The
principle: a change is material when it lets Safehold do more with someone's data (new
information, new or wider purposes, a different lawful basis), share it with more
recipients, keep it longer, or takes a protection away (opt-out, objection, notice, a
right). Removals, narrowing, shorter periods and rewording are minor. A field this module
has no rule for is material unless it is plain text, so a new schema key can never slip
through as minor.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import TypeVar

from pydantic import BaseModel

from safehold.policy.document import (
    ChangeClass,
    IpMode,
    Policy,
    RetentionException,
    RetentionFrom,
    RetentionRule,
)
from safehold.policy.durations import compare_durations, duration_in_words

_Item = TypeVar("_Item", bound=BaseModel)
Span = tuple[str, RetentionFrom]  # (ISO period, start)

_ANCHORS = list(RetentionFrom)  # earliest to latest start of a retention period
_IP_MODES = list(IpMode)  # from keeping least to keeping most of an address
WIDENING_PURPOSE_KINDS = frozenset(
    {
        "purpose.added",
        "purpose.categories_added",
        "purpose.lawful_basis_changed",
        "purpose.opt_out_removed",
        "purpose.objectable_removed",
        "purpose.aggregate_only_removed",
        "purpose.after_closure_added",
        "purpose.marketing_added",
    }
)

# Per section: yes/no settings as (field, wording, the value that allows more = material).
_FLAGS: dict[str, tuple[tuple[str, str, bool], ...]] = {
    "category": (("required", "is required", True),),
    "purpose": (
        ("opt_out", "can be opted out of", False),
        ("objectable", "can be objected to", False),
        ("aggregate_only", "is used only in aggregate", False),
        ("after_closure", "continues after the account is closed", True),
        ("marketing", "is marketing", True),
    ),
    "recipient": (
        ("legal_reference_required", "needs a legal reference", False),
        ("notify_on_erasure", "is told about erasure requests", False),
    ),
    "retention.exception": (("survives_erasure", "is kept through erasure requests", True),),
    "requests": (("extension_requires_reason", "extensions need a reason", False),),
}
# Lists as (field, wording, whether adding is the material side).
_SETS: dict[str, tuple[tuple[str, str, bool], ...]] = {
    "category": (("fields", "details kept", True), ("never_kept", "never kept", False)),
    "purpose": (("categories", "uses", True),),
    "recipient": (("categories", "receives", True), ("purposes", "receives data for", True)),
    "sharing": (("allowed_purposes", "sharing allowed for", True),),
    "changes": (("notify", "change notices sent by", False),),
    "requests": (
        ("kinds", "requests you can make", False),
        ("operational_retention", "kept after erasure", True),
    ),
}
# Durations as (field, wording, whether longer is the material side).
_DURATIONS: dict[str, tuple[tuple[str, str, bool], ...]] = {
    "changes": (("notice_period", "notice before material changes", False),),
    "requests": (("deadline", "request deadline", True), ("max_extension", "extension", True)),
}
# Plain strings that are rules, not wording: a recipient's country is where data goes.
_RULE_STRINGS = frozenset({"country"})
# Fields compared by hand below, so the generic pass must skip them.
_BY_HAND: dict[str, tuple[str, ...]] = {
    "purpose": ("lawful_basis",),
    "retention": ("categories", "period", "from_", "action", "exceptions"),
    "retention.exception": ("period", "from_", "categories"),
    "changes": ("continued_use_accepts_minor", "material_requires_explicit_acceptance"),
}


@dataclass(frozen=True)
class PolicyChange:
    kind: str  # e.g. "purpose.categories_added", "retention.period_extended", "text.changed"
    subject: str  # the id (or section) the change is about
    description: str  # one plain-language sentence for the change notice
    change_class: ChangeClass


@dataclass(frozen=True)
class PolicyDiff:
    changes: tuple[PolicyChange, ...]

    @property
    def change_class(self) -> ChangeClass:
        """Material if any change is material; an empty diff is minor."""
        material = any(c.change_class is ChangeClass.MATERIAL for c in self.changes)
        return ChangeClass.MATERIAL if material else ChangeClass.MINOR

    def purposes_needing_acceptance(self) -> frozenset[str]:
        """Purposes that are new or widened: what ``SubjectState.pending_acceptance``
        should hold for a person who has not yet accepted the new version."""
        return frozenset(c.subject for c in self.changes if c.kind in WIDENING_PURPOSE_KINDS)


def _key(item: object) -> str:
    if isinstance(item, BaseModel):
        for name in ("name", "what", "id"):
            if hasattr(item, name):
                return str(getattr(item, name))
    return str(item)


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def _is_text(value: object) -> bool:
    return value is None or (isinstance(value, str) and not isinstance(value, Enum))


@dataclass
class _Changes:
    items: list[PolicyChange] = field(default_factory=list)

    def add(self, kind: str, subject: str, description: str, *, material: bool) -> None:
        cls = ChangeClass.MATERIAL if material else ChangeClass.MINOR
        self.items.append(PolicyChange(kind, subject, description, cls))

    def compare(
        self, section: str, subject: str, label: str, old: BaseModel, new: BaseModel
    ) -> None:
        """Apply the section's flag, list and duration rules, then the generic pass."""
        handled = set(_BY_HAND.get(section, ()))
        for name, words, wider in _FLAGS.get(section, ()):
            handled.add(name)
            before, after = getattr(old, name), getattr(new, name)
            if before != after:
                verb = "added" if after else "removed"
                text = f"{label}: {words} — {_yes_no(after)} (was {_yes_no(before)})."
                self.add(f"{section}.{name}_{verb}", subject, text, material=after == wider)
        for name, words, more_is_material in _SETS.get(section, ()):
            handled.add(name)
            before_keys = [_key(x) for x in getattr(old, name)]
            after_keys = [_key(x) for x in getattr(new, name)]
            for verb, items, material in (
                ("added", [x for x in after_keys if x not in before_keys], more_is_material),
                ("removed", [x for x in before_keys if x not in after_keys], not more_is_material),
            ):
                if items:
                    text = f"{label}, {words}: {verb} {', '.join(items)}."
                    self.add(f"{section}.{name}_{verb}", subject, text, material=material)
        for name, words, longer_is_material in _DURATIONS.get(section, ()):
            handled.add(name)
            before, after = getattr(old, name), getattr(new, name)
            order = compare_durations(before, after)
            if order != 0:
                verb = "shortened" if order == -1 else "extended"  # incomparable: extended
                text = (
                    f"{label}, {words}: {duration_in_words(before)} → {duration_in_words(after)}."
                )
                material = longer_is_material == (verb == "extended")
                self.add(f"{section}.{name}_{verb}", subject, text, material=material)
        for name in type(old).model_fields:
            before, after = getattr(old, name), getattr(new, name)
            if name in handled or before == after:
                continue
            if name not in _RULE_STRINGS and _is_text(before) and _is_text(after):
                self.add(
                    "text.changed",
                    f"{subject}.{name}",
                    f"{label}: {name} reworded.",
                    material=False,
                )
            else:
                self.add(
                    f"{section}.changed",
                    subject,
                    f"{label}: {name} {before} → {after}.",
                    material=True,
                )

    def collection(
        self, section: str, old: Iterable[_Item], new: Iterable[_Item], added: str, removed: str
    ) -> Iterator[tuple[str, _Item, _Item]]:
        """Report added (material) and removed (minor) entries; yield the ones in both."""
        before = {str(getattr(i, "id")): i for i in old}  # noqa: B009 - any model with an id
        after = {str(getattr(i, "id")): i for i in new}  # noqa: B009
        for item_id in sorted(after.keys() - before.keys()):
            text = f"{added}: {_label(after[item_id])}."
            self.add(f"{section}.added", item_id, text, material=True)
        for item_id in sorted(before.keys() - after.keys()):
            text = f"{removed}: {_label(before[item_id])}."
            self.add(f"{section}.removed", item_id, text, material=False)
        for item_id in sorted(before.keys() & after.keys()):
            yield item_id, before[item_id], after[item_id]


def _label(item: BaseModel) -> str:
    for name in ("label", "name", "description"):
        if hasattr(item, name):
            return str(getattr(item, name))
    return _key(item)


def longer(old: Span, new: Span) -> int:
    """1 if ``new`` can keep data longer than ``old``, -1 if never longer, 0 if the same.

    A later start ("after the account is closed" instead of "after it is collected") can
    always be longer; an earlier start with a longer period may be longer for some people,
    so it counts as longer too.
    """
    anchor = _ANCHORS.index(new[1]) - _ANCHORS.index(old[1])
    order = compare_durations(old[0], new[0])
    if anchor > 0 or (anchor == 0 and order in (1, None)):
        return 1
    if anchor < 0:
        return -1 if order in (-1, 0) else 1
    return -1 if order == -1 else 0


def _span_words(span: Span) -> str:
    return f"{duration_in_words(span[0])} {span[1].words}"


def _period(out: _Changes, kind: str, subject: str, label: str, old: Span, new: Span) -> None:
    order = longer(old, new)
    if order:
        verb = "extended" if order > 0 else "shortened"
        text = f"{label} kept: {_span_words(old)} → {_span_words(new)}."
        out.add(f"{kind}_{verb}", subject, text, material=order > 0)


def _rule_for(policy: Policy, category_id: str) -> RetentionRule | None:
    try:
        return policy.retention_rule_for(category_id)
    except KeyError:  # only in a policy that failed validation; nothing sound to compare
        return None


def _entities(out: _Changes, old: Policy, new: Policy) -> None:
    for cid, o, n in out.collection(
        "category",
        old.categories,
        new.categories,
        "New information collected",
        "No longer collected",
    ):
        out.compare("category", cid, n.label, o, n)
    for pid, po, pn in out.collection(
        "purpose", old.purposes, new.purposes, "New purpose", "Purpose dropped"
    ):
        if po.lawful_basis != pn.lawful_basis:
            text = f"{pn.label}: lawful basis {po.lawful_basis} → {pn.lawful_basis}."
            out.add("purpose.lawful_basis_changed", pid, text, material=True)
        out.compare("purpose", pid, pn.label, po, pn)
    for rid, ro, rn in out.collection(
        "recipient", old.recipients, new.recipients, "New recipient", "No longer shared with"
    ):
        out.compare("recipient", rid, rn.name, ro, rn)


def _retention(out: _Changes, old: Policy, new: Policy) -> None:
    """Periods per category (robust to rules being regrouped), then rules and exceptions."""
    for cid in (c for c in new.category_ids if c in old.category_ids):
        o, n = _rule_for(old, cid), _rule_for(new, cid)
        if o is None or n is None:
            continue
        label = new.category(cid).label
        _period(out, "retention.period", cid, label, (o.period, o.from_), (n.period, n.from_))
        if o.action != n.action:
            text = f"{label}: at the end of its period, {o.action} → {n.action}."
            out.add("retention.action_changed", cid, text, material=n.action != "delete")
    old_rules = {r.id: r for r in old.retention}
    for rule in new.retention:
        if rule.id in old_rules:
            out.compare("retention", rule.id, rule.label, old_rules[rule.id], rule)

    def exceptions(policy: Policy) -> dict[str, tuple[tuple[str, ...], RetentionException]]:
        return {
            e.id: (e.categories or r.categories, e) for r in policy.retention for e in r.exceptions
        }

    before, after = exceptions(old), exceptions(new)
    for eid, eo, en in out.collection(
        "retention.exception",
        [e for _, e in before.values()],
        [e for _, e in after.values()],
        "Kept longer",
        "No longer kept longer",
    ):
        label = en.description
        span_old, span_new = (eo.period, eo.from_), (en.period, en.from_)
        _period(out, "retention.exception.period", eid, label, span_old, span_new)
        cats_old, cats_new = before[eid][0], after[eid][0]
        for verb, items, material in (
            ("added", [c for c in cats_new if c not in cats_old], True),
            ("removed", [c for c in cats_old if c not in cats_new], False),
        ):
            if items:
                text = f"{label}: covers {verb} {', '.join(items)}."
                out.add(f"retention.exception.categories_{verb}", eid, text, material=material)
        out.compare("retention.exception", eid, label, eo, en)


def _settings(out: _Changes, old: Policy, new: Policy) -> None:
    out.compare("sharing", "sharing", "Sharing rule", old.sharing, new.sharing)
    for name in _BY_HAND["changes"]:
        before, after = getattr(old.changes, name), getattr(new.changes, name)
        if before != after:
            text = f"Policy updates: {name.replace('_', ' ')} {before} → {after}."
            out.add("changes.continued_use_changed", f"changes.{name}", text, material=True)
    out.compare("changes", "changes", "Policy updates", old.changes, new.changes)
    out.compare("requests", "requests", "Requests", old.requests, new.requests)

    k_old, k_new = old.analytics.k_anonymity, new.analytics.k_anonymity
    if k_old != k_new:
        text = f"Smallest group in reports: {k_old} → {k_new} people."
        out.add("analytics.k_anonymity_changed", "analytics", text, material=k_new < k_old)
    _events(out, old, new)

    # A different controller is a different party holding the data: material. Contact
    # details, titles, group texts and the operator's statements are wording: minor.
    if old.controller.name != new.controller.name:
        text = f"Controller: {old.controller.name} → {new.controller.name}."
        out.add("controller.changed", "controller.name", text, material=True)
    unnamed = [c.controller.model_copy(update={"name": ""}) for c in (old, new)]
    if unnamed[0] != unnamed[1]:
        out.add("text.changed", "controller", "Contact details changed.", material=False)
    for section in ("policy", "statements", "groups"):
        if getattr(old, section) != getattr(new, section):
            out.add("text.changed", section, f"Wording of '{section}' changed.", material=False)


def _events(out: _Changes, old: Policy, new: Policy) -> None:
    ip_old, ip_new = old.events.ip, new.events.ip
    for name in ("ipv4_prefix", "ipv6_prefix"):
        before, after = getattr(ip_old, name), getattr(ip_new, name)
        if before != after:
            text = f"IP addresses shortened to /{after} instead of /{before}."
            out.add(f"events.ip.{name}_changed", "events.ip", text, material=after > before)
    if ip_old.mode != ip_new.mode:
        text = f"IP addresses: {ip_old.mode} → {ip_new.mode}."
        keeps_more = _IP_MODES.index(ip_new.mode) > _IP_MODES.index(ip_old.mode)
        out.add("events.ip.mode_changed", "events.ip", text, material=keeps_more)
    full_old, full_new = ip_old.full, ip_new.full
    if full_old is not None and full_new is not None and full_old != full_new:
        if full_old.purpose != full_new.purpose:
            text = f"Whole IP addresses kept for {full_new.purpose} instead of {full_old.purpose}."
            out.add("events.ip.full_changed", "events.ip", text, material=True)
        span_old = (full_old.period, RetentionFrom.COLLECTED)
        span_new = (full_new.period, RetentionFrom.COLLECTED)
        _period(out, "events.ip.full.period", "events.ip", "Whole IP addresses", span_old, span_new)
    ua_old, ua_new = old.events.user_agent, new.events.user_agent
    if ua_old != ua_new:
        text = f"Device details from the browser: {ua_old} → {ua_new}."
        out.add("events.user_agent_changed", "events", text, material=ua_new == "coarse")
    for key in ("login_event", "logout_event"):
        before, after = getattr(old.events, key), getattr(new.events, key)
        if before != after:
            text = f"Login history: {key.replace('_', ' ')} {before} → {after}."
            out.add("events.changed", f"events.{key}", text, material=True)
    _event_names(out, old, new)


def _event_names(out: _Changes, old: Policy, new: Policy) -> None:
    """More event names or properties, or a property no longer encrypted, is material."""
    before = {k.name: k for k in old.events.names}
    after = {k.name: k for k in new.events.names}
    if before and not after:
        text = "Any event name and property is now accepted (all properties kept encrypted)."
        out.add("events.names_removed", "events.names", text, material=True)
        return
    for name in sorted(after.keys() - before.keys()):
        text = f"New usage event recorded: {name} ({after[name].category})."
        out.add("events.name_added", name, text, material=bool(before))
    for name in sorted(before.keys() - after.keys()):
        out.add(
            "events.name_removed", name, f"Usage event no longer recorded: {name}.", material=False
        )
    for name in sorted(before.keys() & after.keys()):
        o, n = before[name], after[name]
        if o.category != n.category:
            text = f"Event {name} recorded as {n.category} instead of {o.category}."
            out.add("events.name_changed", name, text, material=True)
        props_old, props_new = {*o.dimensions, *o.personal}, {*n.dimensions, *n.personal}
        for verb, items, material in (
            ("added", props_new - props_old, True),
            ("removed", props_old - props_new, False),
        ):
            if items:
                text = f"Event {name}, properties {verb}: {', '.join(sorted(items))}."
                out.add(f"events.properties_{verb}", name, text, material=material)
        unencrypted = sorted(set(o.personal) & set(n.dimensions))
        if unencrypted:
            text = f"Event {name}: no longer encrypted: {', '.join(unencrypted)}."
            out.add("events.properties_unencrypted", name, text, material=True)
        encrypted = sorted(set(o.dimensions) & set(n.personal))
        if encrypted:
            text = f"Event {name}: now encrypted: {', '.join(encrypted)}."
            out.add("events.properties_encrypted", name, text, material=False)
        if o.label != n.label:
            out.add(
                "text.changed", f"events.{name}.label", f"Event {name} relabelled.", material=False
            )


def diff_policies(old: Policy, new: Policy) -> PolicyDiff:
    """Every rule change from ``old`` to ``new``, each classified; see the module docstring."""
    out = _Changes()
    _entities(out, old, new)
    _retention(out, old, new)
    _settings(out, old, new)
    return PolicyDiff(tuple(out.items))
