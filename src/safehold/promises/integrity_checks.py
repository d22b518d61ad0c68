"""The audit chain is intact, and no card number is stored anywhere in the database."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from sqlalchemy import JSON, String, Table, Text, select
from sqlalchemy.orm import Session

from safehold.access import audit
from safehold.carddata import contains_card_number
from safehold.events import rules as event_rules
from safehold.events import storage
from safehold.models import Base
from safehold.promises.rules import Check, Context, Finding

SCAN_BATCH = 2000
# Hashes and blind indexes (hex digests) are not card numbers, but a run of 13 to 19 decimal
# digits inside one can pass the Luhn check by chance: such values are skipped whole.
DIGEST = re.compile(r"[0-9a-f]{32,}")


def audit_chain(ctx: Context) -> Finding:
    found = Finding()
    result = audit.verify(ctx.session)
    if result.broken is not None:
        found.add([f"audit {result.broken.where}"])
        found.notes.append(f"{result.broken.reason}; {result.checked} entries verified before it")
    return found


def _tables(session: Session) -> Iterator[Table]:
    yield from Base.metadata.sorted_tables  # every feature's tables (safehold.models)
    for month in storage.months(session):
        yield storage.month_table(event_rules.partition_name(month))


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def card_numbers(ctx: Context) -> Finding:
    """Every text and JSON column of every table, event months included. Encrypted columns
    are not readable here (and need not be: the card guard refuses card numbers before
    anything is encrypted); what is found is named as ``table.column``, never its value."""
    found = Finding()
    for table in _tables(ctx.session):
        columns = [c for c in table.columns if isinstance(c.type, String | Text | JSON)]
        if not columns:
            continue
        rows = ctx.session.execute(
            select(*columns).execution_options(yield_per=SCAN_BATCH)
        )  # a server-side cursor on PostgreSQL: memory stays flat over any table size
        try:
            for row in rows:
                for column, value in zip(columns, row, strict=True):
                    text = _text(value)
                    if (
                        text is not None
                        and not DIGEST.fullmatch(text)
                        and contains_card_number(text)
                    ):
                        found.add([f"{table.name}.{column.name}"])
        finally:
            rows.close()
    return found


CHECKS = (
    Check("audit.chain_intact",
          "The audit log is a hash chain: no entry was altered, removed or reordered.",
          audit_chain),
    Check("carddata.none_stored",
          "No payment card number is stored anywhere.", card_numbers),
)  # fmt: skip
