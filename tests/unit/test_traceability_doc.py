"""docs/policy-format.md's traceability table maps every statement of the rendered policy to
the code that enforces it, its test and its `safehold promises` check. Each cell must point at
something real: a quote the template really makes, a function that imports, a test that
exists, a check id the checker runs — or say plainly that there is none, and why."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

from safehold.policy import render
from safehold.promises.service import check_ids

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "policy-format.md"
TEMPLATE = ROOT / "src" / "safehold" / "policy" / "templates" / "policy.md.j2"
HEADING = "## Traceability: every statement → code → test → check"
ROW = re.compile(r"^\| (T\d+)(?: †)? \|(.*)\|$", flags=re.MULTILINE)
QUOTE = re.compile(r"`([^`]+)`")
CODE = re.compile(r"^safehold(?:\.\w+)+:\w+(?:\.\w+)*$")
TEST = re.compile(r"^(tests/[\w/]+\.py)::(\w+)$")
MISSING = "—"
NONE = "none — "
NO_GAPS = "Every statement has the code that enforces it and a test."
WORD_TABLES = (
    render.BASIS_WORDS,
    render.ACTION_WORDS,
    render.REQUEST_WORDS,
    render.CHANNEL_WORDS,
    render.VERIFICATION_WORDS,
)


def _section() -> str:
    text = DOC.read_text()
    assert HEADING in text
    after = text.split(HEADING, 1)[1]
    return after.split("\n## ", 1)[0]


def _rows() -> list[tuple[str, list[str]]]:
    rows = []
    for row_id, rest in ROW.findall(_section()):
        cells = [cell.strip() for cell in rest.split("|")]
        assert len(cells) == 4, f"{row_id}: expected 4 cells after the id, got {len(cells)}"
        rows.append((row_id, cells))
    return rows


def _tests_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }


def _resolves(target: str) -> bool:
    module_name, _, attributes = target.partition(":")
    try:
        found: object = importlib.import_module(module_name)
    except ImportError:
        return False
    for name in attributes.split("."):
        if not hasattr(found, name):
            return False
        found = getattr(found, name)
    return True


def test_the_rows_are_numbered_in_order_and_cover_the_template() -> None:
    ids = [row_id for row_id, _ in _rows()]
    assert len(ids) >= 50  # the template makes that many promises
    assert ids == [f"T{i}" for i in range(1, len(ids) + 1)]


def test_every_quoted_statement_is_made_by_the_template() -> None:
    template = TEMPLATE.read_text()
    phrases = {phrase for table in WORD_TABLES for phrase in table.values()}
    wrong = []
    for row_id, (statement, *_) in _rows():
        quotes = QUOTE.findall(statement)
        if not quotes or quotes[0] not in template:
            wrong.append(f"{row_id}: {quotes[:1]}")
        wrong += [f"{row_id}: {q}" for q in quotes[1:] if q not in template and q not in phrases]
    assert wrong == []


def test_every_cited_function_resolves() -> None:
    wrong = []
    for row_id, (_, code, _, _) in _rows():
        targets = QUOTE.findall(code)
        if not targets:
            assert code == MISSING, f"{row_id}: neither code nor {MISSING}"
        wrong += [f"{row_id}: {t}" for t in targets if not CODE.match(t) or not _resolves(t)]
    assert wrong == []


def test_every_cited_test_exists() -> None:
    wrong = []
    for row_id, (_, _, tests, _) in _rows():
        cited = QUOTE.findall(tests)
        if not cited:
            assert tests == MISSING, f"{row_id}: neither a test nor {MISSING}"
        for item in cited:
            match = TEST.match(item)
            path = ROOT / match.group(1) if match else ROOT / "missing"
            if match is None or not path.is_file() or match.group(2) not in _tests_in(path):
                wrong.append(f"{row_id}: {item}")
    assert wrong == []


def test_every_check_is_real_or_says_why_there_is_none() -> None:
    known = set(check_ids())
    wrong = []
    for row_id, (_, _, _, check) in _rows():
        cited = QUOTE.findall(check)
        wrong += [f"{row_id}: {c}" for c in cited if c not in known]
        if not check.startswith(NONE):
            if not cited or not check.startswith("`"):
                wrong.append(f"{row_id}: {check!r} is neither a check id nor '{NONE}<why>'")
        elif len(check.removeprefix(NONE).split()) < 3:
            wrong.append(f"{row_id}: no reason after '{NONE}'")
    assert wrong == []


def test_every_missing_cell_is_listed_under_gaps() -> None:
    section = _section()
    assert "### Gaps" in section
    gaps = section.split("### Gaps", 1)[1]
    missing = [row_id for row_id, (_, code, tests, _) in _rows() if MISSING in (code, tests)]
    assert [row_id for row_id in missing if f"**{row_id}**" not in gaps] == []
    listed = re.findall(r"^- \*\*(T\d+)\*\*", gaps, flags=re.MULTILINE)
    assert listed == missing  # no row listed as a gap once its code and test exist
    if not missing:  # the section says so rather than going quiet
        assert NO_GAPS in gaps
