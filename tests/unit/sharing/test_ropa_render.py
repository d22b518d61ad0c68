"""The record of processing activities renders every policy value as text: an operator's
label cannot add markup, links or table cells."""

from __future__ import annotations

from datetime import UTC, datetime

from safehold.policy import Policy
from safehold.sharing import ropa

AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def figures(**overrides: object) -> ropa.Figures:
    values: dict[str, object] = {
        "people": {"active": 3},
        "disclosures": {"payment_processor": (2, 3)},
        "outstanding_notices": {},
        "overdue_notices": 0,
        "keys_by_version": {"v1": 4, "v2": 2},
        "kek_versions": ["v1", "v2"],
        "kek_current": "v2",
        "audit": ropa.AuditFigures(12, "ab" * 32),
        "webhooks": frozenset(),
    }
    values.update(overrides)
    return ropa.Figures(**values)  # type: ignore[arg-type]


def test_hostile_policy_text_stays_text(policy: Policy) -> None:
    hostile = policy.controller.model_copy(
        update={"name": "Evil <script>alert(1)</script> | Co", "address": "[click](javascript:x)"}
    )
    record = ropa.build(
        policy.model_copy(update={"controller": hostile}), figures(), generated_at=AT
    )
    html = ropa.render_html(record)
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert 'href="javascript' not in html
    markdown = ropa.render_markdown(record)
    assert "\\<script\\>" in markdown
    assert "\\|" in markdown


def test_rotation_progress_is_shown_and_the_missing_date_is_said(policy: Policy) -> None:
    record = ropa.build(policy, figures(), generated_at=AT)
    assert record.security.keys.data_keys_on_older_versions == 4
    assert record.security.keys.last_rotation is None
    markdown = ropa.render_markdown(record)
    assert "Data keys still on older versions: 4" in markdown
    assert (
        "Rotation: No key rotation has run yet. 4 of 6 data keys are still wrapped by an older "
        "key-encryption key: re-wrapping them under the current one is unfinished"
    ) in markdown
    assert "if empty" not in markdown  # the old field description is gone


def test_the_last_rotation_date_is_reported(policy: Policy) -> None:
    record = ropa.build(policy, figures(last_rotation=AT), generated_at=AT)
    assert record.security.keys.last_rotation == AT.isoformat()
    assert "The last key rotation finished on 2 March 2026 at 09:30 UTC." in ropa.render_markdown(
        record
    )
    done = ropa.build(policy, figures(last_rotation=AT, keys_by_version={"v2": 6}), generated_at=AT)
    assert done.security.keys.rotation_note == (
        "The last key rotation finished on 2 March 2026 at 09:30 UTC. All 6 data keys are "
        "wrapped by the current key-encryption key (v2)."
    )
    one = ropa.build(policy, figures(keys_by_version={"v2": 1}), generated_at=AT)
    assert "The one data key is wrapped" in one.security.keys.rotation_note
    none = ropa.build(policy, figures(keys_by_version={}), generated_at=AT)
    assert none.security.keys.rotation_note.endswith("No data key exists yet.")


def test_a_broken_audit_chain_is_reported(policy: Policy) -> None:
    broken = ropa.AuditFigures(
        12, "ab" * 32, verified_at=AT, intact=False, broken_at=7, broken_place="chain 3, position 7"
    )
    markdown = ropa.render_markdown(ropa.build(policy, figures(audit=broken), generated_at=AT))
    assert "BROKEN at chain 3, position 7" in markdown
