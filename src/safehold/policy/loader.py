"""Read a policy file into a :class:`Policy`, or explain every problem with file and line.

The operator edits YAML by hand, so every failure must point at a line and say how to fix
it: syntax errors, a top level that is not a mapping, duplicate keys (YAML silently keeps
the last one), wrong types, unknown keys, and the cross-checks of ``validate.py``. The
YAML is composed into PyYAML's node tree (``SafeLoader`` only) so that each dotted path,
and so each Pydantic error ``loc``, can be mapped back to the line it came from.

Anchors (``&name``) and aliases (``*name``) are refused while composing: a policy never
needs them, and nested aliases make a few hundred bytes expand into gigabytes of paths (a
"billion laughs" file), which an operator could paste at ``/admin/policy`` or a key with
``policy:admin`` could send to ``POST /v1/policy/versions``.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from safehold.policy.document import Policy
from safehold.policy.issues import PolicyFileError, PolicyIssue, did_you_mean, line_for
from safehold.policy.validate import check_policy

__all__ = ["PolicyFileError", "PolicyIssue", "load_policy", "parse_policy"]

DOCS = "docs/policy-format.md"
_QUOTED = re.compile(r"'([^']*)'")


def load_policy(path: Path) -> Policy:
    """Load and fully validate the policy file at ``path``."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyFileError(
            [PolicyIssue(source, None, "", "policy file not found", "check the path")]
        ) from None
    except UnicodeDecodeError as exc:
        message = f"policy file is not UTF-8 text ({exc.reason} at byte {exc.start})"
        raise PolicyFileError(
            [PolicyIssue(source, None, "", message, "save the file as UTF-8")]
        ) from None
    except OSError as exc:
        message = f"cannot read policy file: {exc.strerror or exc}"
        raise PolicyFileError(
            [PolicyIssue(source, None, "", message, "check the path and its permissions")]
        ) from None
    return parse_policy(text, source)


def parse_policy(text: str, source: str = "<string>") -> Policy:
    """Parse and validate policy YAML; raise :class:`PolicyFileError` listing every issue."""
    data, lines, issues = _read_yaml(text, source)
    if not isinstance(data, dict):
        if not issues:
            kind = "empty" if data is None else f"a {type(data).__name__}, not a mapping"
            issues.append(
                PolicyIssue(
                    source,
                    1,
                    "",
                    f"the policy file is {kind}",
                    "start the file with `schema_version: 1` and the top-level keys "
                    f"(policy, controller, categories, purposes ...); see {DOCS}",
                )
            )
        raise PolicyFileError(issues)
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        issues.extend(_schema_issue(error, source, lines) for error in exc.errors())
        raise PolicyFileError(sorted(issues, key=_by_line)) from None
    issues.extend(check_policy(policy, source=source, lines=lines))
    if issues:
        raise PolicyFileError(sorted(issues, key=_by_line))
    return policy


def _by_line(issue: PolicyIssue) -> tuple[int, str]:
    return (issue.line or 0, issue.location)


def _read_yaml(text: str, source: str) -> tuple[object, dict[str, int], list[PolicyIssue]]:
    """Compose and construct the YAML; return (data, path -> line, duplicate-key issues)."""
    try:
        node, data = _compose_and_construct(text)
    except _AnchorRefused as exc:
        issue = PolicyIssue(
            source,
            exc.line,
            "",
            f"YAML anchors and aliases are not allowed in a policy file (found {exc.found})",
            "write the value out in full at each place it is used",
        )
        return None, {}, [issue]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        context = exc.context
        if context and exc.context_mark is not None and exc.context_mark is not mark:
            context = f"{context} (started on line {exc.context_mark.line + 1})"
        detail = "; ".join(part for part in (context, exc.problem) if part)
        issue = PolicyIssue(
            source,
            line,
            "",
            f"YAML syntax error: {detail}",
            "check indentation and quoting on this line; quote values that contain ': ' "
            "or start with a special character",
        )
        return None, {}, [issue]
    except yaml.YAMLError as exc:
        return None, {}, [PolicyIssue(source, None, "", f"YAML error: {exc}", "fix the YAML")]
    lines: dict[str, int] = {}
    issues = [
        PolicyIssue(
            source,
            line,
            location,
            f"key '{location.rsplit('.', 1)[-1]}' appears twice; YAML keeps only the last one",
            "remove or merge the duplicate",
        )
        for location, line in _index_lines(node, "", lines)
    ]
    return data, lines, issues


class _AnchorRefused(yaml.YAMLError):
    """An anchor or alias in a policy file (see the module docstring)."""

    def __init__(self, found: str, line: int | None) -> None:
        super().__init__(found)
        self.found, self.line = found, line


class _PolicyLoader(yaml.SafeLoader):
    """``SafeLoader`` whose composer stops at the first anchor or alias, before any expansion."""

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]  # untyped in types-PyYAML
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            kind = "alias *" if isinstance(event, yaml.AliasEvent) else "anchor &"
            mark = event.start_mark
            raise _AnchorRefused(kind + str(anchor), mark.line + 1 if mark is not None else None)
        return super().compose_node(parent, index)


def _compose_and_construct(text: str) -> tuple[yaml.Node | None, object]:
    """One pass of the loader: the node tree (for lines) and the plain data it builds."""
    loader = _PolicyLoader(text)
    try:
        node = loader.get_single_node()
        return node, (loader.construct_document(node) if node is not None else None)
    finally:
        loader.dispose()


def _index_lines(
    node: yaml.Node | None, path: str, lines: dict[str, int]
) -> Iterator[tuple[str, int]]:
    """Record the line of every path under ``node``; yield (path, line) of duplicate keys."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            child = f"{path}.{key}" if path else key
            line = key_node.start_mark.line + 1
            if key in seen:
                yield child, line
            seen.add(key)
            lines[child] = line
            yield from _index_lines(value_node, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = f"{path}[{index}]"
            lines[child] = item.start_mark.line + 1
            yield from _index_lines(item, child, lines)


def _location(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path = f"{path}.{part}" if path else str(part)
    return path


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The Pydantic model inside an annotation such as ``tuple[Purpose, ...] | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _keys_at(loc: tuple[int | str, ...]) -> list[str]:
    """The keys allowed in the mapping at ``loc`` (for "did you mean" suggestions)."""
    model: type[BaseModel] | None = Policy
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        fields = {info.alias or name: info for name, info in model.model_fields.items()}
        model = _model_in(fields[part].annotation) if part in fields else None
    if model is None:
        return []
    return [info.alias or name for name, info in model.model_fields.items()]


def _describe(value: object) -> str:
    if isinstance(value, bool):
        return "a yes/no value"
    if isinstance(value, date):
        return "a date"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _schema_issue(error: ErrorDetails, source: str, lines: dict[str, int]) -> PolicyIssue:
    loc = tuple(error["loc"])
    location = _location(loc)
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    key = str(loc[-1]) if loc else ""
    message, fix = error["msg"], f"see {DOCS}"
    if kind == "missing":
        message, fix = f"required key '{key}' is missing", f"add `{key}:` here (see {DOCS})"
    elif kind == "extra_forbidden":
        hint = did_you_mean(key, _keys_at(loc[:-1]))
        message, fix = f"unknown key '{key}'", f"remove it or correct its spelling{hint}"
    elif kind in ("enum", "literal_error"):
        expected = str(ctx.get("expected", "one of the documented values"))
        hint = did_you_mean(str(value), _QUOTED.findall(expected))
        message, fix = f"'{value}' is not allowed here", f"use {expected}{hint}"
    elif kind == "string_type":
        message = f"expected text, got {_describe(value)} ({value!r})"
        fix = "put the value in quotes, e.g. 'NO' or '2025' (YAML reads some words as yes/no)"
    elif kind == "string_pattern_mismatch":
        message = f"'{value}' is not in the expected format"
        lookup = "id" if key.isdigit() else key  # list items are ids (categories, purposes)
        fix = _PATTERN_FIXES.get(lookup, f"match the pattern {ctx.get('pattern')}")
    elif kind == "string_too_short":
        message, fix = f"'{key}' is empty", "write some text, or remove the key if it is optional"
    elif kind in ("tuple_type", "list_type"):
        message = f"expected a list, got {_describe(value)}"
        fix = "write a YAML list, one `- item` per line"
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        message = f"expected a mapping of keys, got {_describe(value)}"
        fix = "write `key: value` lines indented under this key"
    elif kind == "too_short":
        message, fix = f"'{key}' must not be empty", "add at least one entry"
    elif kind == "duration":
        message, fix = str(ctx.get("reason", error["msg"])), "write e.g. P30D, P1M, P13M or P2Y"
    elif kind.startswith(("int_", "bool_", "greater_", "less_")):
        message, fix = f"{error['msg']} (got {value!r})", "correct the value"
    return PolicyIssue(source, line_for(lines, location), location, message, fix)


_PATTERN_FIXES = {
    "id": "use lowercase words separated by dots or underscores, e.g. 'account.email'",
    "country": "use a two-letter ISO 3166 country code in capitals, e.g. 'IE'",
    "email": "use an e-mail address such as privacy@example.com",
    "website": "use an http:// or https:// URL",
    "posted_at": "use a path such as /policy or an https:// URL",
    "privacy_center": "use a path such as /me or an https:// URL",
    "language": "use a language code such as 'en' or 'en-GB'",
}
