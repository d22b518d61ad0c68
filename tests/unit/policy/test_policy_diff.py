"""Diff classification: more data, purposes, recipients, time or fewer protections is
material; less, shorter or reworded is minor."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from safehold.policy import ChangeClass, Policy, PolicyDiff, diff_policies

Edit = Callable[[Policy, Callable[[dict[str, Any]], None]], Policy]
Change = Callable[[dict[str, Any]], None]
MATERIAL, MINOR = ChangeClass.MATERIAL, ChangeClass.MINOR


def _purpose(data: dict[str, Any], purpose_id: str) -> dict[str, Any]:
    return next(p for p in data["purposes"] if p["id"] == purpose_id)


def _recipient(data: dict[str, Any], recipient_id: str) -> dict[str, Any]:
    return next(r for r in data["recipients"] if r["id"] == recipient_id)


def _rule(data: dict[str, Any], rule_id: str) -> dict[str, Any]:
    return next(r for r in data["retention"] if r["id"] == rule_id)


def _add_category(data: dict[str, Any]) -> None:
    data["categories"].append(
        {
            "id": "account.birthdate",
            "label": "Date of birth",
            "group": "account",
            "source": "provided",
            "description": "For age checks.",
            "fields": [{"name": "birthdate", "label": "date of birth"}],
        }
    )
    _purpose(data, "service_provision")["categories"].append("account.birthdate")
    _rule(data, "account_contact")["categories"].append("account.birthdate")


def _add_purpose(data: dict[str, Any]) -> None:
    data["purposes"].append(
        {
            "id": "fraud_prevention",
            "label": "Fraud prevention",
            "description": "Stop card fraud.",
            "lawful_basis": "legitimate_interests",
            "interest": "Not losing money to fraud.",
            "objectable": True,
            "categories": ["network.ip"],
        }
    )


def _add_recipient(data: dict[str, Any]) -> None:
    data["recipients"].append(
        {
            "id": "support_desk",
            "name": "Example Helpdesk Ltd (fictional)",
            "role": "processor",
            "description": "Hosts our support tickets.",
            "purposes": ["service_provision"],
            "categories": ["account.email"],
            "country": "NL",
            "agreement": "a data processing agreement",
        }
    )


def _set(path: str, value: object) -> Change:
    """Set a value at a dotted path such as ``changes.notice_period``."""

    def change(data: dict[str, Any]) -> None:
        *parents, key = path.split(".")
        target = data
        for part in parents:
            target = target[part]
        target[key] = value

    return change


CASES: dict[str, tuple[Change, str, str, ChangeClass]] = {
    # name: (edit, kind, subject, class)
    "new category collected": (_add_category, "category.added", "account.birthdate", MATERIAL),
    "category removed": (
        lambda d: (
            d["categories"].pop(),
            _purpose(d, "service_provision")["categories"].remove("network.ip"),
        ),
        "category.removed",
        "network.ip",
        MINOR,
    ),
    "category keeps a new detail": (
        lambda d: d["categories"][0]["fields"].append({"name": "nickname", "label": "nickname"}),
        "category.fields_added",
        "account.name",
        MATERIAL,
    ),
    "card numbers no longer promised away": (
        lambda d: d["categories"][4]["never_kept"].pop(),
        "category.never_kept_removed",
        "account.payment",
        MATERIAL,
    ),
    "category relabelled": (
        lambda d: d["categories"][0].update(label="Full name"),
        "text.changed",
        "account.name.label",
        MINOR,
    ),
    "new purpose": (_add_purpose, "purpose.added", "fraud_prevention", MATERIAL),
    "purpose uses more categories": (
        lambda d: _purpose(d, "communication.marketing")["categories"].append("account.phone"),
        "purpose.categories_added",
        "communication.marketing",
        MATERIAL,
    ),
    "purpose uses fewer categories": (
        lambda d: _purpose(d, "legal_obligation")["categories"].remove("network.ip"),
        "purpose.categories_removed",
        "legal_obligation",
        MINOR,
    ),
    "lawful basis changed": (
        lambda d: _purpose(d, "communication.marketing").update(lawful_basis="consent"),
        "purpose.lawful_basis_changed",
        "communication.marketing",
        MATERIAL,
    ),
    "opt-out removed": (
        lambda d: _purpose(d, "communication.marketing").update(opt_out=False),
        "purpose.opt_out_removed",
        "communication.marketing",
        MATERIAL,
    ),
    "objection added": (
        lambda d: _purpose(d, "communication.service").update(objectable=True),
        "purpose.objectable_added",
        "communication.service",
        MINOR,
    ),
    "objection removed": (
        lambda d: _purpose(d, "platform_improvement").update(objectable=False),
        "purpose.objectable_removed",
        "platform_improvement",
        MATERIAL,
    ),
    "no longer aggregate-only": (
        lambda d: _purpose(d, "platform_improvement").update(aggregate_only=False),
        "purpose.aggregate_only_removed",
        "platform_improvement",
        MATERIAL,
    ),
    "purpose description reworded": (
        lambda d: _purpose(d, "service_provision").update(description="Run the service."),
        "text.changed",
        "service_provision.description",
        MINOR,
    ),
    "new recipient": (_add_recipient, "recipient.added", "support_desk", MATERIAL),
    "recipient removed": (
        lambda d: d["recipients"].pop(1),
        "recipient.removed",
        "email_delivery",
        MINOR,
    ),
    "recipient gets more categories": (
        lambda d: _recipient(d, "email_delivery")["categories"].append("account.phone"),
        "recipient.categories_added",
        "email_delivery",
        MATERIAL,
    ),
    "recipient gets more purposes": (
        lambda d: _recipient(d, "email_delivery")["purposes"].append("legal_obligation"),
        "recipient.purposes_added",
        "email_delivery",
        MATERIAL,
    ),
    "recipient gets fewer categories": (
        lambda d: _recipient(d, "payment_processor")["categories"].remove("account.email"),
        "recipient.categories_removed",
        "payment_processor",
        MINOR,
    ),
    "recipient moves country": (
        lambda d: _recipient(d, "email_delivery").update(
            country="US", transfer_safeguard="EU standard contractual clauses (2021/914)"
        ),
        "recipient.changed",
        "email_delivery",
        MATERIAL,
    ),
    "retention extended": (
        lambda d: _rule(d, "network_ip").update(period="P90D"),
        "retention.period_extended",
        "network.ip",
        MATERIAL,
    ),
    "retention shortened": (
        lambda d: _rule(d, "usage_events").update(period="P6M"),
        "retention.period_shortened",
        "usage.action",
        MINOR,
    ),
    "retention starts later": (
        lambda d: _rule(d, "login_history").update(**{"from": "account_closed"}),
        "retention.period_extended",
        "usage.login",
        MATERIAL,
    ),
    "retention starts earlier and is not longer": (
        lambda d: _rule(d, "device_info").update(**{"from": "collected"}),
        "retention.period_shortened",
        "device.info",
        MINOR,
    ),
    "retention from 30 days to 1 month (longer in some months)": (
        lambda d: _rule(d, "network_ip").update(period="P1M"),
        "retention.period_extended",
        "network.ip",
        MATERIAL,
    ),
    "data aggregated instead of deleted": (
        lambda d: _rule(d, "login_history").update(action="aggregate_then_delete"),
        "retention.action_changed",
        "usage.login",
        MATERIAL,
    ),
    "retention exception added": (
        lambda d: _rule(d, "network_ip")["exceptions"].append(
            {
                "id": "ip_fraud_cases",
                "description": "IP addresses in open fraud cases",
                "period": "P1Y",
                "from": "collected",
                "legal_basis": "Legal claims",
                "reason": "Evidence",
            }
        ),
        "retention.exception.added",
        "ip_fraud_cases",
        MATERIAL,
    ),
    "retention exception removed": (
        lambda d: _rule(d, "payment")["exceptions"].clear(),
        "retention.exception.removed",
        "payment_records",
        MINOR,
    ),
    "retention exception extended": (
        lambda d: _rule(d, "payment")["exceptions"][0].update(period="P11Y"),
        "retention.exception.period_extended",
        "payment_records",
        MATERIAL,
    ),
    "continued use would accept material changes": (
        _set("changes.material_requires_explicit_acceptance", False),
        "changes.continued_use_changed",
        "changes.material_requires_explicit_acceptance",
        MATERIAL,
    ),
    "continued use no longer accepts minor changes": (
        _set("changes.continued_use_accepts_minor", False),
        "changes.continued_use_changed",
        "changes.continued_use_accepts_minor",
        MATERIAL,
    ),
    "shorter notice": (
        _set("changes.notice_period", "P14D"),
        "changes.notice_period_shortened",
        "changes",
        MATERIAL,
    ),
    "longer notice": (
        _set("changes.notice_period", "P60D"),
        "changes.notice_period_extended",
        "changes",
        MINOR,
    ),
    "a right no longer offered": (
        lambda d: d["requests"]["kinds"].remove("export"),
        "requests.kinds_removed",
        "requests",
        MATERIAL,
    ),
    "shorter request deadline": (
        _set("requests.deadline", "P14D"),
        "requests.deadline_shortened",
        "requests",
        MINOR,
    ),
    "smaller groups in reports": (
        _set("analytics.k_anonymity", 5),
        "analytics.k_anonymity_changed",
        "analytics",
        MATERIAL,
    ),
    "longer IP prefix": (
        _set("events.ip.ipv4_prefix", 28),
        "events.ip.ipv4_prefix_changed",
        "events.ip",
        MATERIAL,
    ),
    "IPs dropped": (_set("events.ip.mode", "drop"), "events.ip.mode_changed", "events.ip", MINOR),
    "contact e-mail changed": (
        _set("controller.email", "dpo@example.net"),
        "text.changed",
        "controller",
        MINOR,
    ),
    "a different controller": (
        _set("controller.name", "Another Reseller"),
        "controller.changed",
        "controller.name",
        MATERIAL,
    ),
    "statement reworded": (
        _set("statements.user_responsibility", "Please keep your details up to date."),
        "text.changed",
        "statements",
        MINOR,
    ),
    "sharing allowed for a new purpose": (
        lambda d: d["sharing"]["allowed_purposes"].append("communication.marketing"),
        "sharing.allowed_purposes_added",
        "sharing",
        MATERIAL,
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_change_is_classified(name: str, default_policy: Policy, edited: Edit) -> None:
    change, kind, subject, expected = CASES[name]
    result = diff_policies(default_policy, edited(default_policy, change))
    found = [c for c in result.changes if c.kind == kind and c.subject == subject]
    assert found, (
        f"expected {kind} on {subject}; got {[(c.kind, c.subject) for c in result.changes]}"
    )
    assert found[0].change_class is expected
    assert found[0].description
    # One material change makes the version material; a narrowing edit stays minor.
    assert result.change_class is expected


def test_identical_policies_have_no_changes(default_policy: Policy) -> None:
    result = diff_policies(default_policy, default_policy)
    assert result == PolicyDiff(())
    assert result.change_class is MINOR


def test_only_minor_changes_make_a_minor_diff(default_policy: Policy, edited: Edit) -> None:
    def narrow(data: dict[str, Any]) -> None:
        _rule(data, "network_ip")["period"] = "P7D"
        _purpose(data, "legal_obligation")["categories"].remove("network.ip")
        data["controller"]["email"] = "privacy@example.net"

    result = diff_policies(default_policy, edited(default_policy, narrow))
    assert len(result.changes) == 3
    assert result.change_class is MINOR


def test_one_material_change_makes_the_diff_material(default_policy: Policy, edited: Edit) -> None:
    def mixed(data: dict[str, Any]) -> None:
        _rule(data, "network_ip")["period"] = "P7D"
        _add_purpose(data)

    result = diff_policies(default_policy, edited(default_policy, mixed))
    assert {c.change_class for c in result.changes} == {MINOR, MATERIAL}
    assert result.change_class is MATERIAL


def test_reverting_a_change_swaps_its_class(default_policy: Policy, edited: Edit) -> None:
    wider = edited(default_policy, _add_recipient)
    assert diff_policies(default_policy, wider).change_class is MATERIAL
    back = diff_policies(wider, default_policy)
    assert [(c.kind, c.change_class) for c in back.changes] == [("recipient.removed", MINOR)]


def test_purposes_needing_acceptance(default_policy: Policy, edited: Edit) -> None:
    def widen(data: dict[str, Any]) -> None:
        _add_purpose(data)
        _purpose(data, "communication.marketing")["categories"].append("account.phone")
        _purpose(data, "platform_improvement")["objectable"] = False
        _rule(data, "network_ip")["period"] = "P60D"
        _purpose(data, "legal_obligation")["categories"].remove("network.ip")

    result = diff_policies(default_policy, edited(default_policy, widen))
    assert result.purposes_needing_acceptance() == {
        "fraud_prevention",
        "communication.marketing",
        "platform_improvement",
    }
