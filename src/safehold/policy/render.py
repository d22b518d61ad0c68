"""Render the human-readable policy from the rules, never from a stored copy of its text.

Because the page is generated from the same file the decision function enforces, the
published promise and the enforced rule cannot drift apart: add a recipient and it appears
under "sharing"; shorten a retention period and the page says so. The Markdown comes from
Jinja2 templates in ``templates/``; every value from the policy file goes through
:func:`md_text`, which escapes Markdown and flattens line breaks, so an operator's label
cannot add headings, links or HTML. The HTML page converts that Markdown with markdown-it
with raw HTML disabled, then wraps it in an autoescaped page template.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import jinja2
from markdown_it import MarkdownIt
from markupsafe import Markup

from safehold.policy.capabilities import NETWORK_IP, sealed_by_month
from safehold.policy.document import (
    Category,
    CategoryGroup,
    LawfulBasis,
    NoticeChannel,
    Policy,
    RequestKind,
    RetentionAction,
    RetentionFrom,
    VerificationMethod,
)
from safehold.policy.durations import duration_in_words
from safehold.policy.rules import SWEEP_GRACE

SECTION_HEADINGS = (
    "1. Types of Information Collected",
    "2. Purpose of Information Collection",
    "3. Accuracy of Your Information and Third-Party Sharing",
    "4. Data Retention",
    "5. Policy Updates",
)

BASIS_WORDS = {
    LawfulBasis.CONSENT: "your consent, which you can withdraw at any time",
    LawfulBasis.CONTRACT: "it is necessary to provide the service you signed up for (our contract)",
    LawfulBasis.LEGAL_OBLIGATION: "it is necessary to comply with a legal obligation",
    LawfulBasis.VITAL_INTERESTS: "it is necessary to protect someone's vital interests",
    LawfulBasis.PUBLIC_TASK: "it is necessary for a task carried out in the public interest",
    LawfulBasis.LEGITIMATE_INTERESTS: "our legitimate interests, balanced against your rights",
}
ACTION_WORDS = {
    RetentionAction.DELETE: "securely deleted",
    RetentionAction.AGGREGATE_THEN_DELETE: (
        "folded into anonymous statistics, then securely deleted"
    ),
}
REQUEST_WORDS = {
    RequestKind.ACCESS: "a copy of the information we hold about you",
    RequestKind.EXPORT: "your information in a machine-readable file",
    RequestKind.RECTIFICATION: "correction of inaccurate or incomplete information",
    RequestKind.ERASURE: "deletion of your information",
    RequestKind.OBJECTION: "to object to uses based on our legitimate interests",
    RequestKind.RESTRICTION: (
        "restriction of processing (we then use your information only where the law obliges "
        "us to, and e-mail you before we lift the restriction)"
    ),
}
CHANNEL_WORDS = {
    NoticeChannel.EMAIL: "e-mail",
    NoticeChannel.PRIVACY_CENTER: "a notice in the privacy center",
    NoticeChannel.WEBSITE_BANNER: "a banner on our website",
}
VERIFICATION_WORDS = {
    VerificationMethod.EMAIL_CODE: "a one-time code we send to your e-mail address",
}

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~#&!])")
_LINE_START = re.compile(r"^([-+=]|\d{1,9}[.)])(?=\s|$)")
_BLANK_RUNS = re.compile(r"\n{3,}")
_BLOCK_START = re.compile(r"\n(?=#{1,6} |---\n|\| Information)")
_SLUG = re.compile(r"[^a-z0-9]+")


def md_text(value: object) -> str:
    """Plain text made safe to place inline in Markdown: one line, no live syntax."""
    text = _MD_SPECIAL.sub(r"\\\1", " ".join(str(value).split()))
    return _LINE_START.sub(lambda m: m.group(1)[:-1] + "\\" + m.group(1)[-1], text)


def sentence(text: str) -> str:
    """End with exactly one full stop (operators write values with or without one)."""
    stripped = text.rstrip()
    return stripped if stripped.endswith((".", "!", "?")) else stripped + "."


def md_code(value: object) -> str:
    """An id as inline code; ids match ``ID_PATTERN`` so they never contain backticks."""
    return f"`{str(value).replace('`', '')}`"


def join_words(items: Iterable[str]) -> str:
    """["a", "b", "c"] -> "a, b and c"."""
    words = list(items)
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def period_words(period: str, start: RetentionFrom) -> str:
    """ "P2Y" + account_closed -> "2 years after the account is closed"."""
    return f"{duration_in_words(period)} {start.words}"


def absolute_url(policy: Policy, path_or_url: str, site: str | None = None) -> str:
    """A path (``/me``, ``/policy``) is a page Safehold serves: under ``site`` (the
    deployment's ``SAFEHOLD_BASE_URL``) when known, else under the controller's website."""
    if path_or_url.startswith("/"):
        return (site or policy.controller.website).rstrip("/") + path_or_url
    return path_or_url


def md_link(url: str, text: str | None = None) -> str:
    """A Markdown link; URLs are schema-validated (http/https/mailto, no spaces or brackets)."""
    return f"[{md_text(text or url)}]({url})"


@dataclass(frozen=True)
class _Views:
    """Lookups the templates need, bound to one policy."""

    policy: Policy
    site: str | None = None

    def categories_in(self, group: CategoryGroup) -> list[Category]:
        return [c for c in self.policy.categories if c.group == group]

    def category_labels(self, ids: Iterable[str]) -> str:
        labels = [
            self.policy.category(i).label if i in self.policy.category_ids else i for i in ids
        ]
        return join_words(md_text(label) for label in labels)

    def purpose_labels(self, ids: Iterable[str]) -> str:
        labels = [self.policy.purpose(i).label if i in self.policy.purpose_ids else i for i in ids]
        return join_words(md_text(label) for label in labels)

    def url(self, path_or_url: str) -> str:
        return md_link(absolute_url(self.policy, path_or_url, self.site))


def _lookup(key: object, mapping: dict[Any, str]) -> str:
    return mapping[key]


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("safehold.policy", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        t=md_text,
        sentence=sentence,
        code=md_code,
        words=duration_in_words,
        period=period_words,
        link=md_link,
        lookup=_lookup,
    )
    env.globals.update(
        BASIS_WORDS=BASIS_WORDS,
        ACTION_WORDS=ACTION_WORDS,
        REQUEST_WORDS=REQUEST_WORDS,
        CHANNEL_WORDS=CHANNEL_WORDS,
        VERIFICATION_WORDS=VERIFICATION_WORDS,
        SECTIONS=SECTION_HEADINGS,
        LawfulBasis=LawfulBasis,
        RequestKind=RequestKind,
        join_words=join_words,
        SWEEP_GRACE=SWEEP_GRACE,
    )
    return env


_ENV = _environment()


def _context(policy: Policy, site: str | None) -> dict[str, Any]:
    kept = [
        (rule, exc) for rule in policy.retention for exc in rule.exceptions if exc.survives_erasure
    ]
    return {
        "p": policy,
        "v": _Views(policy, site),
        "kept_after_erasure": kept,
        "month_sealed": [c for c in sealed_by_month(policy) if c != NETWORK_IP],
        "ip_sealed": NETWORK_IP in sealed_by_month(policy),
        "ip_period": policy.retention_rule_for(NETWORK_IP).period
        if NETWORK_IP in policy.category_ids
        else None,
        "notified_recipients": [r for r in policy.recipients if r.notify_on_erasure],
        "policy_url": absolute_url(policy, policy.changes.posted_at, site),
    }


def render_markdown(policy: Policy, *, site: str | None = None) -> str:
    """The complete policy as Markdown, covering the seed's five sections; ``site``: where
    the deployment serves its pages (the links to ``/me`` and ``/policy``)."""
    text = _ENV.get_template("policy.md.j2").render(_context(policy, site))
    text = _BLOCK_START.sub("\n\n", text)  # headings, rules and tables stand apart
    return _BLANK_RUNS.sub("\n\n", text).strip() + "\n"


@dataclass(frozen=True)
class Heading:
    id: str
    text: str


def html_body(policy: Policy, *, site: str | None = None) -> tuple[str, list[Heading]]:
    """The policy as an HTML fragment (for a page of the web app) and its h2 headings."""
    return _markdown_to_html(render_markdown(policy, site=site))


def _markdown_to_html(source: str) -> tuple[str, list[Heading]]:
    """Convert with raw HTML disabled; give every heading an id and collect the h2s."""
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = md.parse(source)
    used: set[str] = set()
    toc: list[Heading] = []
    for index, token in enumerate(tokens):
        if token.type != "heading_open":
            continue
        inline = tokens[index + 1]
        text = "".join(
            child.content
            for child in inline.children or []
            if child.type in ("text", "code_inline")
        )
        slug = base = _SLUG.sub("-", text.lower()).strip("-") or "section"
        counter = 1
        while slug in used:
            counter += 1
            slug = f"{base}-{counter}"
        used.add(slug)
        token.attrSet("id", slug)
        if token.tag == "h2":
            toc.append(Heading(slug, text))
    return md.renderer.render(tokens, md.options, {}), toc


def render_html(policy: Policy) -> str:
    """A standalone, accessible HTML page of the policy; every value is escaped."""
    body, toc = html_body(policy)
    return _ENV.get_template("policy.html.j2").render(
        p=policy,
        body=Markup(body),  # noqa: S704 - markdown-it output with raw HTML disabled
        toc=toc,
    )
