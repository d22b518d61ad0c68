"""The policy as code: schema, loader, cross-checks, renderer, differ and the decision.

One YAML file (``policies/default.yaml`` by default) is the single source of truth: it is
validated with file-and-line errors, rendered into the public policy, compared between
versions, and consulted by :func:`decide` before every use of personal data. Nothing here
imports FastAPI or SQLAlchemy, so every feature package can depend on it.
"""

from safehold.policy.diff import PolicyChange, PolicyDiff, diff_policies
from safehold.policy.document import (
    Category,
    CategoryGroup,
    ChangeClass,
    ChangeRules,
    Controller,
    LawfulBasis,
    Policy,
    Purpose,
    Recipient,
    RecipientRole,
    RequestRules,
    RetentionAction,
    RetentionException,
    RetentionFrom,
    RetentionRule,
)
from safehold.policy.issues import PolicyFileError, PolicyIssue
from safehold.policy.loader import load_policy, parse_policy
from safehold.policy.render import render_html, render_markdown
from safehold.policy.rules import (
    Decision,
    SubjectState,
    Withheld,
    add_duration,
    content_hash,
    decide,
    decide_for_anyone,
    retained_after_erasure,
)
from safehold.policy.validate import check_policy

__all__ = [
    "Category",
    "CategoryGroup",
    "ChangeClass",
    "ChangeRules",
    "Controller",
    "Decision",
    "LawfulBasis",
    "Policy",
    "PolicyChange",
    "PolicyDiff",
    "PolicyFileError",
    "PolicyIssue",
    "Purpose",
    "Recipient",
    "RecipientRole",
    "RequestRules",
    "RetentionAction",
    "RetentionException",
    "RetentionFrom",
    "RetentionRule",
    "SubjectState",
    "Withheld",
    "add_duration",
    "check_policy",
    "content_hash",
    "decide",
    "decide_for_anyone",
    "diff_policies",
    "load_policy",
    "parse_policy",
    "render_html",
    "render_markdown",
    "retained_after_erasure",
]
