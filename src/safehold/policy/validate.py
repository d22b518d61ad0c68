"""Cross-checks that relate one part of a policy to another, run after the schema parse.

The schema can say "a purpose lists category ids"; only these checks can say "and those
categories exist", "and a recipient only receives what its purposes allow", "and the
marketing purpose can be opted out of". Each check is a promise of the published policy
that must hold before Safehold enforces it. The checks never stop at the first problem.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

from safehold.policy.capabilities import check_capabilities
from safehold.policy.delivery import check_mail_delivery
from safehold.policy.document import CategoryGroup, LawfulBasis, Policy, RecipientRole
from safehold.policy.durations import can_exceed
from safehold.policy.issues import PolicyIssue, did_you_mean, line_for
from safehold.policy.validate_events import check_event_names, check_minimisation

MAX_REQUEST_DEADLINE = "P1M"  # GDPR Art. 12(3): answer within one month of receipt
MAX_REQUEST_EXTENSION = "P2M"  # ... extendable by two further months where necessary

Found = tuple[str, str, str]  # (location, message, fix)
Check = Callable[[Policy], Iterator[Found]]


IDENTIFYING_GROUPS = frozenset({CategoryGroup.ACCOUNT})  # never needed for aggregates
_PLURALS = {"category": "categories", "purpose": "purposes"}


def _unknown(kind: str, value: str, declared: Sequence[str]) -> tuple[str, str]:
    return (
        f"unknown {kind} '{value}'",
        f"use one of the declared {_PLURALS[kind]}{did_you_mean(value, declared)}",
    )


def _duplicates(section: str, ids: Sequence[str]) -> Iterator[Found]:
    seen: set[str] = set()
    for index, item_id in enumerate(ids):
        if item_id in seen:
            yield (
                f"{section}[{index}].id",
                f"duplicate id '{item_id}' in {section}",
                "give every entry its own id, or merge the two entries",
            )
        seen.add(item_id)


def check_duplicate_ids(policy: Policy) -> Iterator[Found]:
    yield from _duplicates("categories", policy.category_ids)
    yield from _duplicates("purposes", policy.purpose_ids)
    yield from _duplicates("recipients", policy.recipient_ids)
    yield from _duplicates("retention", [rule.id for rule in policy.retention])
    seen_exceptions: set[str] = set()
    for r, rule in enumerate(policy.retention):
        for e, exc in enumerate(rule.exceptions):
            if exc.id in seen_exceptions:
                yield (
                    f"retention[{r}].exceptions[{e}].id",
                    f"duplicate retention exception id '{exc.id}'",
                    "exception ids must be unique across the whole policy",
                )
            seen_exceptions.add(exc.id)


def check_groups(policy: Policy) -> Iterator[Found]:
    described = {text.id for text in policy.groups}
    for index, category in enumerate(policy.categories):
        if category.group not in described:
            yield (
                f"categories[{index}].group",
                f"category '{category.id}' is in group '{category.group}', "
                "which has no entry in groups",
                f"add `- id: {category.group}` with a label and description under groups",
            )


def check_purpose_categories(policy: Policy) -> Iterator[Found]:
    declared = policy.category_ids
    for p, purpose in enumerate(policy.purposes):
        for c, category_id in enumerate(purpose.categories):
            if category_id not in declared:
                yield (
                    f"purposes[{p}].categories[{c}]",
                    *_unknown("category", category_id, declared),
                )
            elif (
                purpose.aggregate_only and policy.category(category_id).group in IDENTIFYING_GROUPS
            ):
                yield (
                    f"purposes[{p}].categories[{c}]",
                    f"aggregate-only purpose '{purpose.id}' lists '{category_id}'; "
                    "aggregates never need account, contact or payment details",
                    f"remove '{category_id}' from this purpose, or drop aggregate_only",
                )


def check_unused_categories(policy: Policy) -> Iterator[Found]:
    used = {category_id for purpose in policy.purposes for category_id in purpose.categories}
    for index, category in enumerate(policy.categories):
        if category.id not in used:
            yield (
                f"categories[{index}].id",
                f"category '{category.id}' is collected but no purpose uses it",
                "list it under the purpose that needs it, or stop collecting it "
                "(data minimisation)",
            )


def check_recipients(policy: Policy) -> Iterator[Found]:
    categories, purposes = policy.category_ids, policy.purpose_ids
    allowed = policy.sharing.allowed_purposes
    for r, recipient in enumerate(policy.recipients):
        here = f"recipients[{r}]"
        for p, purpose_id in enumerate(recipient.purposes):
            if purpose_id not in purposes:
                yield (f"{here}.purposes[{p}]", *_unknown("purpose", purpose_id, purposes))
            elif purpose_id not in allowed:
                yield (
                    f"{here}.purposes[{p}]",
                    f"recipient '{recipient.id}' receives data for '{purpose_id}', but the sharing "
                    f"rule only allows sharing for: {', '.join(allowed)}",
                    "remove this purpose from the recipient (sharing outside the rule would "
                    "contradict the published policy)",
                )
        covered = {
            category_id
            for purpose_id in recipient.purposes
            if purpose_id in purposes
            for category_id in policy.purpose(purpose_id).categories
        }
        for c, category_id in enumerate(recipient.categories):
            if category_id not in categories:
                yield (f"{here}.categories[{c}]", *_unknown("category", category_id, categories))
            elif category_id not in covered:
                yield (
                    f"{here}.categories[{c}]",
                    f"recipient '{recipient.id}' receives '{category_id}', which none of its "
                    f"purposes ({', '.join(recipient.purposes)}) may use",
                    f"add '{category_id}' to one of those purposes, or remove it here",
                )
        if recipient.role is RecipientRole.AUTHORITY and not recipient.legal_reference_required:
            yield (
                f"{here}.role",
                f"authority '{recipient.id}' can receive data without a legal reference",
                "set `legal_reference_required: true`: every disclosure to an authority must "
                "cite the law or order that compels it",
            )
        if recipient.role is RecipientRole.PROCESSOR and recipient.agreement is None:
            yield (
                f"{here}.role",
                f"processor '{recipient.id}' has no agreement",
                "name the data processing agreement under `agreement:` (GDPR Art. 28(3))",
            )
        if recipient.third_country and recipient.transfer_safeguard is None:
            yield (
                f"{here}.country",
                f"recipient '{recipient.id}' is in {recipient.country}, outside the European "
                "Economic Area, and no safeguard for the transfer is named",
                "name it under `transfer_safeguard:` (GDPR Art. 45/46), e.g. 'an adequacy "
                "decision' or 'EU standard contractual clauses (2021/914)'",
            )


def check_sharing_rule(policy: Policy) -> Iterator[Found]:
    for index, purpose_id in enumerate(policy.sharing.allowed_purposes):
        if purpose_id not in policy.purpose_ids:
            yield (
                f"sharing.allowed_purposes[{index}]",
                *_unknown("purpose", purpose_id, policy.purpose_ids),
            )


def check_rights(policy: Policy) -> Iterator[Found]:
    for index, purpose in enumerate(policy.purposes):
        here = f"purposes[{index}]"
        if purpose.is_marketing and not purpose.opt_out:
            yield (
                f"{here}.opt_out",
                f"marketing purpose '{purpose.id}' cannot be opted out of",
                "set `opt_out: true`: people must be able to refuse marketing at any time",
            )
        if purpose.is_marketing and purpose.after_closure:
            yield (
                f"{here}.after_closure",
                f"marketing purpose '{purpose.id}' would continue after the account is closed",
                "set `after_closure: false`",
            )
        if purpose.lawful_basis is LawfulBasis.LEGITIMATE_INTERESTS:
            if not purpose.objectable:
                yield (
                    f"{here}.objectable",
                    f"purpose '{purpose.id}' relies on legitimate interests "
                    "but cannot be objected to",
                    "set `objectable: true` (GDPR Art. 21 gives a right to object)",
                )
            if purpose.interest is None:
                yield (
                    f"{here}.lawful_basis",
                    f"purpose '{purpose.id}' relies on legitimate interests without naming them",
                    "describe the interest under `interest:` (GDPR Art. 13(1)(d))",
                )
        if purpose.lawful_basis is LawfulBasis.CONSENT and not purpose.opt_out:
            yield (
                f"{here}.opt_out",
                f"consent-based purpose '{purpose.id}' cannot be withdrawn",
                "set `opt_out: true` (GDPR Art. 7(3): consent can be withdrawn at any time)",
            )


def check_retention(policy: Policy) -> Iterator[Found]:
    declared = policy.category_ids
    owner: dict[str, str] = {}
    for r, rule in enumerate(policy.retention):
        for c, category_id in enumerate(rule.categories):
            here = f"retention[{r}].categories[{c}]"
            if category_id not in declared:
                yield (here, *_unknown("category", category_id, declared))
            elif category_id in owner:
                yield (
                    here,
                    f"category '{category_id}' is in two retention rules "
                    f"('{owner[category_id]}' and '{rule.id}')",
                    "keep it in exactly one rule; use an exception to keep part of it longer",
                )
            else:
                owner[category_id] = rule.id
        for e, exc in enumerate(rule.exceptions):
            here = f"retention[{r}].exceptions[{e}]"
            for c, category_id in enumerate(exc.categories):
                if category_id not in rule.categories:
                    yield (
                        f"{here}.categories[{c}]",
                        f"exception '{exc.id}' covers '{category_id}', which rule '{rule.id}' "
                        "does not govern",
                        f"use one of: {', '.join(rule.categories)}",
                    )
            covered = exc.categories or rule.categories
            known_fields = {f.name for c in policy.categories if c.id in covered for f in c.fields}
            for f, field in enumerate(exc.fields):
                if field not in known_fields:
                    yield (
                        f"{here}.fields[{f}]",
                        f"exception '{exc.id}' names field '{field}', which its categories "
                        "do not declare",
                        f"use one of: {', '.join(sorted(known_fields))}",
                    )
            if exc.only_for_people_with and not exc.survives_erasure:
                yield (
                    f"{here}.only_for_people_with",
                    f"exception '{exc.id}' limits whom it applies to, but only erasure "
                    "honours that limit",
                    "add `survives_erasure: true`, or remove `only_for_people_with`",
                )
            for c, category_id in enumerate(exc.only_for_people_with):
                if category_id not in declared:
                    yield (
                        f"{here}.only_for_people_with[{c}]",
                        *_unknown("category", category_id, declared),
                    )
            for key in ("legal_basis", "reason"):
                if getattr(exc, key) is None:
                    yield (
                        here,
                        f"retention exception '{exc.id}' has no {key.replace('_', ' ')}",
                        f"add `{key}:` — data may only be kept longer for a stated, lawful reason",
                    )
    for index, category in enumerate(policy.categories):
        if category.id not in owner:
            yield (
                f"categories[{index}].id",
                f"category '{category.id}' has no retention rule",
                "add it to a rule under retention so it is deleted when no longer needed",
            )


def check_changes_and_requests(policy: Policy) -> Iterator[Found]:
    if not policy.changes.material_requires_explicit_acceptance:
        yield (
            "changes.material_requires_explicit_acceptance",
            "material changes would be accepted by continued use",
            "set it to true: new purposes, categories or recipients need explicit acceptance",
        )
    if can_exceed(policy.requests.deadline, MAX_REQUEST_DEADLINE):
        yield (
            "requests.deadline",
            f"request deadline '{policy.requests.deadline}' can end later than one month "
            "after the request (P30D does, in February)",
            f"use {MAX_REQUEST_DEADLINE} or shorter (GDPR Art. 12(3))",
        )
    if can_exceed(policy.requests.max_extension, MAX_REQUEST_EXTENSION):
        yield (
            "requests.max_extension",
            f"request extension '{policy.requests.max_extension}' can be longer than two months",
            f"use {MAX_REQUEST_EXTENSION} or shorter (GDPR Art. 12(3))",
        )


CHECKS: tuple[Check, ...] = (
    check_duplicate_ids,
    check_groups,
    check_purpose_categories,
    check_unused_categories,
    check_recipients,
    check_sharing_rule,
    check_rights,
    check_retention,
    check_changes_and_requests,
    check_minimisation,
    check_event_names,
    check_capabilities,
    check_mail_delivery,
)


def check_policy(
    policy: Policy, *, source: str = "<string>", lines: Mapping[str, int] | None = None
) -> list[PolicyIssue]:
    """Every cross-check issue in ``policy``, sorted by line; empty when it can be enforced."""
    where = lines or {}
    issues = [
        PolicyIssue(source, line_for(where, location), location, message, fix)
        for check in CHECKS
        for location, message, fix in check(policy)
    ]
    return sorted(issues, key=lambda issue: (issue.line or 0, issue.location))
