"""Where each table goes on a PostgreSQL sharded by person (Citus), and the rules that lets it
(docs/scaling.md): read from a database's own catalogue, so what is checked is the schema the
migrations built, not what the models say.

* **Personal tables** are distributed by the person: ``subject_id`` (``subjects`` by its
  ``id``; ``events`` by ``owner_id``, who sent the event — the person, or an anonymous
  device), all co-located with ``subjects``.
* **Look-up tables** are distributed by a key of their own (a blind index → the person):
  what finds a person without a global unique index over a personal table.
* **Reference tables** are small and global (policy versions, API keys, partitions, roll-ups
  …): replicated to every node.
* **Coordinator tables** stay on the coordinator alone, not distributed and not replicated:
  the audit log, whose entries are ordered by chain (one per database connection, decision
  0030), not by person — the database moves a chain's head row with every append (a trigger
  on the entries), and a checkpoint seals every head at once.

The rules, each reported with its table: every table is classified; a distributed table has
a primary key and every primary or unique key contains its distribution column; a foreign
key joins co-located tables on that column, or points at a reference table; a reference
table points at no distributed table; a coordinator table is joined only with coordinator
or reference tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

SUBJECTS = "subjects"
COORDINATOR = "coordinator"
DISTRIBUTED_BY: dict[str, str] = {SUBJECTS: "id", "events": "owner_id"}  # else subject_id
PERSON_COLUMN = "subject_id"
LOOKUP: dict[str, str] = {  # table -> its own key
    "anonymous_links": "anonymous_index",
    "email_lookup": "email_index",  # an address's blind index -> the person
    "web_sessions": "id",  # the cookie's hash -> the person, or a staff member (no person)
    "web_sign_in_codes": "id",  # the attempt id the page carries; no person for an unknown address
}
LOCAL = frozenset(  # coordinator only: the audit log (decision 0030; audit_keys: its key versions)
    {"audit_checkpoints", "audit_entries", "audit_head", "audit_keys"}
)
REFERENCE = frozenset(
    {
        "alembic_version",
        "analytics_days",
        "analytics_late_events",  # event ids and days, no person (analytics.late)
        "analytics_rollups",  # k-anonymous counts
        "api_keys",
        "device_parses",  # keyed by a keyed hash of a User-Agent: no person (decision 0032)
        "disclosures",  # one per disclosure; its people are in disclosure_subjects
        "event_partitions",
        "kek_rotations",
        "mail_suppressions",  # by e-mail blind index: no person id
        "messages",  # a message's content; its recipients are outbox items
        "policy_notices",  # a version's change e-mails (the messages, not their people)
        "policy_versions",
        "policy_withdrawals",
        "promise_runs",
        "retention_runs",
        "staff_members",  # the console's staff, not the service's people (decision 0038)
        "staff_passkey_ceremonies",  # passkey challenges of staff, no person (decision 0041)
        "staff_passkeys",  # staff members' passkeys (decision 0041)
        "staff_oidc_attempts",  # single sign-on round trips: no person (decision 0039)
        "staff_sign_ins",
    }
)


@dataclass(frozen=True, order=True)
class Violation:
    table: str
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"{self.table}: {self.rule} ({self.detail})"


_TABLES = """
SELECT c.oid, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition
"""
_COLUMNS = """
SELECT attrelid, attnum, attname FROM pg_attribute
WHERE attnum > 0 AND NOT attisdropped AND attrelid = ANY(:oids)
"""
_KEYS = """
SELECT i.indrelid, x.relname, i.indisprimary, i.indkey::int2[] FROM pg_index i
JOIN pg_class x ON x.oid = i.indexrelid
WHERE i.indisunique AND i.indrelid = ANY(:oids)
"""
_FOREIGN = """
SELECT conrelid, conname, conkey, confrelid, confkey FROM pg_constraint
WHERE contype = 'f' AND conrelid = ANY(:oids)
"""


def distribution_column(table: str) -> str | None:
    """The column a distributed table is sharded by; None for a reference or coordinator
    table."""
    if table in REFERENCE or table in LOCAL:
        return None
    return LOOKUP.get(table) or DISTRIBUTED_BY.get(table, PERSON_COLUMN)


def _group(table: str) -> str | None:
    """Tables in the same group are co-located (None: a reference table)."""
    if table in REFERENCE:
        return None
    if table in LOCAL:
        return COORDINATOR
    return f"lookup:{table}" if table in LOOKUP else SUBJECTS


def violations(conn: Connection) -> list[Violation]:
    """Every broken rule of the schema ``conn`` sees (PostgreSQL), sorted by table."""
    tables: dict[int, str] = {row[0]: row[1] for row in conn.execute(text(_TABLES))}
    oids = {"oids": list(tables)}
    names: dict[tuple[int, int], str] = {
        (rel, num): name for rel, num, name in conn.execute(text(_COLUMNS), oids)
    }
    columns: dict[int, set[str]] = {}
    for rel, _num in names:
        columns.setdefault(rel, set()).add(names[(rel, _num)])
    found: list[Violation] = []
    for oid, table in tables.items():
        column = distribution_column(table)
        if column is not None and column not in columns.get(oid, set()):
            found.append(Violation(table, "unclassified", f"no {column} and not a reference table"))
    unclassified = {v.table for v in found}  # their other rules cannot be judged
    found += [
        v
        for v in _key_rules(conn, tables, names, oids) + _foreign_rules(conn, tables, names, oids)
        if v.table not in unclassified
    ]
    return sorted(found)


def _key_rules(
    conn: Connection, tables: dict[int, str], names: dict[tuple[int, int], str], oids: Any
) -> list[Violation]:
    found = []
    primary = set()
    for rel, index, is_primary, keys in conn.execute(text(_KEYS), oids):
        table, column = tables[rel], distribution_column(tables[rel])
        primary |= {rel} if is_primary else set()
        if column is None:
            continue
        cols = [names.get((rel, k), "(expression)") for k in keys]
        if column not in cols:
            rule = "primary key lacks" if is_primary else "unique key lacks"
            found.append(Violation(table, f"{rule} {column}", f"{index} ({', '.join(cols)})"))
    for rel, table in tables.items():
        if rel not in primary and distribution_column(table) is not None:
            found.append(Violation(table, "no primary key", "a distributed table needs one"))
    return found


def _foreign_rules(
    conn: Connection, tables: dict[int, str], names: dict[tuple[int, int], str], oids: Any
) -> list[Violation]:
    found = []
    for rel, name, keys, target_rel, target_keys in conn.execute(text(_FOREIGN), oids):
        table, target = tables[rel], tables.get(target_rel, "?")
        source_group, target_group = _group(table), _group(target)
        if target_group is None:
            continue  # anything may point at a reference table
        if COORDINATOR in (source_group, target_group):
            if source_group != target_group:
                found.append(Violation(table, "foreign key leaves the coordinator's tables",
                                       f"{name} -> {target}"))  # fmt: skip
            continue
        if source_group is None:
            found.append(Violation(table, "reference table points at a distributed one",
                                   f"{name} -> {target}"))  # fmt: skip
            continue
        pairs = [
            (names[(rel, a)], names[(target_rel, b)])
            for a, b in zip(keys, target_keys, strict=True)
        ]
        joined = (distribution_column(table), distribution_column(target)) in pairs
        if source_group != target_group or not joined:
            shown = ", ".join(f"{a}->{b}" for a, b in pairs)
            found.append(Violation(table, "foreign key between tables not co-located",
                                   f"{name}: {shown} -> {target}"))  # fmt: skip
    return found
