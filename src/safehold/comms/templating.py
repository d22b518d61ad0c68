"""Message templates: Jinja2 in its sandbox, checked when a message is submitted.

A template may only use the variables its message kind offers. Personal ones (``name``,
``email``) decide which categories the worker reads, under the message's purpose, when it
renders each recipient's copy; nothing personal is rendered or stored before that. Every
problem — a syntax error, an unknown variable, a runtime error on sample values — is refused
at submission with the template part and its line. ``secret`` (a value for one recipient,
such as a verification code) exists only for messages submitted with per-recipient secrets.
"""

from __future__ import annotations

import html
import re
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import jinja2
from jinja2 import StrictUndefined, meta, nodes
from jinja2.sandbox import SandboxedEnvironment

from safehold.comms import rules
from safehold.comms.errors import TemplateInvalid
from safehold.subjects.rules import EMAIL, NAME

# Variable -> (category, field) read from the vault at render time.
PERSONAL_VARIABLES: dict[str, tuple[str, str]] = {
    "name": (NAME, "full_name"),
    "email": (EMAIL, "email"),
}
CATEGORIES = frozenset(category for category, _field in PERSONAL_VARIABLES.values())
GENERAL_VARIABLES = frozenset({"operator", "policy_url", "privacy_center_url"})
MARKETING_VARIABLES = frozenset({"unsubscribe_url"})
SECRET = "secret"  # noqa: S105 - the variable's name, not a secret
PARTS = ("subject", "text", "html")
TEMPLATE_NAME = "<template>"  # how Jinja names a template made from a string in tracebacks
MAX_OUTPUT_CHARS = 1_000_000  # one rendered part; a runaway loop stops here
MAX_RANGE = 1_000  # range() inside a template

SAMPLE = {
    "name": "Ada Example",
    "email": "ada@example.com",
    "operator": "Example Operator",
    "policy_url": "https://example.com/policy",
    "privacy_center_url": "https://example.com/me",
    "unsubscribe_url": "https://example.com/unsubscribe/sample",
    SECRET: "12345678",
}


def _small_range(*args: int) -> range:
    values = range(*args)
    if len(values) > MAX_RANGE:
        raise OverflowError(f"range() in a template is limited to {MAX_RANGE} items")
    return values


def _environment(*, autoescape: bool) -> SandboxedEnvironment:
    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=autoescape)
    env.globals = {"range": _small_range}  # nothing else: no cycler, joiner, lipsum, dict
    return env


TEXT_ENV = _environment(autoescape=False)
HTML_ENV = _environment(autoescape=True)


def allowed_variables(purpose: str, *, secret: bool = False) -> frozenset[str]:
    base = GENERAL_VARIABLES | PERSONAL_VARIABLES.keys() | ({SECRET} if secret else set())
    return base | MARKETING_VARIABLES if purpose == rules.MARKETING else frozenset(base)


def _line_of(exc: BaseException) -> int | None:
    lines = [
        f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == TEMPLATE_NAME
    ]
    return lines[-1] if lines else None


def _problem(exc: BaseException) -> str:
    if isinstance(exc, jinja2.TemplateError | OverflowError):
        return str(exc)
    return type(exc).__name__


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str | None


def _render(template: jinja2.Template, context: Mapping[str, str]) -> str:
    out: list[str] = []
    size = 0
    chunks: Iterator[str] = template.generate(**context)
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_OUTPUT_CHARS:
            raise OverflowError(f"the rendered text is longer than {MAX_OUTPUT_CHARS} characters")
        out.append(chunk)
    return "".join(out)


@dataclass(frozen=True)
class CompiledMessage:
    """A message's templates, compiled once and rendered once per recipient."""

    subject: jinja2.Template
    text: jinja2.Template
    html: jinja2.Template | None
    variables: frozenset[str]  # every variable the templates use

    @property
    def personal_fields(self) -> dict[str, str]:
        """Category -> field the templates need, always including the address to send to."""
        fields = {EMAIL: "email"}
        for variable in sorted(self.variables & PERSONAL_VARIABLES.keys()):
            category, field = PERSONAL_VARIABLES[variable]
            fields[category] = field
        return fields

    def render(self, context: Mapping[str, str]) -> Rendered:
        """Render every part; raises :class:`RenderFailed` (never with values in it)."""
        parts: dict[str, str | None] = {}
        for part in PARTS:
            template = getattr(self, part)
            if template is None:
                parts[part] = None
                continue
            try:
                parts[part] = _render(template, context)
            except Exception as exc:
                raise RenderFailed(part, _line_of(exc), _problem(exc)) from None
        subject = " ".join((parts["subject"] or "").split())  # one line: no header injection
        return Rendered(subject, parts["text"] or "", parts["html"])


class RenderFailed(Exception):
    def __init__(self, part: str, line: int | None, problem: str) -> None:
        super().__init__(f"{part} template failed on line {line}: {problem}")
        self.part, self.line, self.problem = part, line, problem


def _parse(
    part: str, source: str, allowed: frozenset[str]
) -> tuple[jinja2.Template, frozenset[str]]:
    """The compiled template and the variables it uses, or :class:`TemplateInvalid`."""
    env = HTML_ENV if part == "html" else TEXT_ENV
    try:
        tree = env.parse(source)
        used = frozenset(meta.find_undeclared_variables(tree)) - env.globals.keys()
        for variable in sorted(used - allowed):
            line = next((n.lineno for n in tree.find_all(nodes.Name) if n.name == variable), None)
            raise _invalid(
                part,
                line,
                f"unknown variable '{variable}'; use one of: {', '.join(sorted(allowed))}",
                variable=variable,
            )
        return env.from_string(source), used
    except jinja2.TemplateSyntaxError as exc:  # also an unknown filter, found when compiling
        raise _invalid(part, exc.lineno, exc.message or "syntax error") from None


def _invalid(part: str, line: int | None, problem: str, **extra: str) -> TemplateInvalid:
    where = f" on line {line}" if line is not None else ""
    return TemplateInvalid(
        f"the {part} template cannot be used: error{where}",
        details={"part": part, "line": line, "problem": problem, **extra},
    )


def compile_message(
    purpose: str, *, subject: str, text: str, html_source: str | None, secret: bool = False
) -> CompiledMessage:
    """Check and compile the templates of a message sent under ``purpose`` (with ``secret``:
    one that carries a per-recipient secret, so ``{{ secret }}`` may be used).

    Raises :class:`TemplateInvalid` naming the part and line of the first problem; the
    templates are also rendered once with sample values, so runtime errors surface here."""
    allowed = allowed_variables(purpose, secret=secret)
    sources = {"subject": subject, "text": text, "html": html_source}
    parsed = {part: _parse(part, src, allowed) for part, src in sources.items() if src is not None}
    used = frozenset().union(*(variables for _template, variables in parsed.values()))
    html_template = parsed["html"][0] if "html" in parsed else None
    message = CompiledMessage(parsed["subject"][0], parsed["text"][0], html_template, used)
    try:
        message.render({k: v for k, v in SAMPLE.items() if k in allowed})
    except RenderFailed as exc:
        raise _invalid(exc.part, exc.line, exc.problem) from None
    return message


_PARAGRAPHS = re.compile(r"\n\s*\n")


def text_to_html(text: str) -> str:
    """The HTML part when none is given: the text, escaped, in paragraphs."""
    paragraphs = [p.strip() for p in _PARAGRAPHS.split(text.strip()) if p.strip()]
    body = "\n".join(
        "<p>" + "<br>\n".join(html.escape(line) for line in p.splitlines()) + "</p>"
        for p in paragraphs
    )
    return f'<!doctype html>\n<html><body style="font-family:sans-serif">\n{body}\n</body></html>'
