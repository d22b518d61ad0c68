"""The operator's command line: one-line failures with exit code 2, keys, db, policy."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from safehold.access.rules import Actor
from safehold.cli import app
from tests.audit_guards import guards_off_sqlite
from tests.conftest import DEFAULT_POLICY
from tests.unit.policy.bombs import ALIAS_BOMB

runner = CliRunner()


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in [k for k in os.environ if k.startswith("SAFEHOLD_") and "TEST" not in k]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SAFEHOLD_DATA_DIR", str(tmp_path / "var"))
    return tmp_path


def test_every_command_group_has_help() -> None:
    for args in ([], ["db"], ["policy"], ["keys"], ["serve"]):
        result = runner.invoke(app, [*args, "--help"])
        assert result.exit_code == 0, result.output
        assert "Usage" in result.output


def test_an_unknown_setting_stops_with_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SAFEHOLD_PROT", "8000")
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 2
    assert "unknown setting SAFEHOLD_PROT" in result.output
    assert "Traceback" not in result.output


def test_an_unreachable_database_is_one_line_without_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SAFEHOLD_DATABASE_URL", "postgresql://ops:s3cr3t-pw@127.0.0.1:1/none")
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 2
    assert "cannot use the database" in result.output
    assert "s3cr3t-pw" not in result.output
    assert "Traceback" not in result.output


def test_a_broken_policy_file_stops_start_up(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("schema_version: 1\ncategories: [\n")
    monkeypatch.setenv("SAFEHOLD_POLICY", str(bad))
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 2
    assert "bad.yaml" in result.output
    assert "Traceback" not in result.output


def test_db_upgrade_current_and_check() -> None:
    behind = runner.invoke(app, ["db", "check"])
    assert behind.exit_code == 1
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    current = runner.invoke(app, ["db", "current"])
    assert current.exit_code == 0
    lines = current.output.split()
    assert lines[1] == lines[3]  # database: <rev>  code: <rev>
    assert runner.invoke(app, ["db", "check"]).exit_code == 0


def test_keys_create_list_revoke() -> None:
    created = runner.invoke(
        app,
        [
            "keys",
            "create",
            "--name",
            "crm",
            "--scopes",
            "subjects:read,subjects:write",
            "--purposes",
            "service_provision",
        ],
    )
    assert created.exit_code == 0, created.output
    token = next(line for line in created.output.splitlines() if line.startswith("shk_"))
    key_id = token.split("_")[1]
    listed = runner.invoke(app, ["keys", "list"])
    assert key_id in listed.output
    assert token.split("_", 2)[2] not in listed.output
    assert runner.invoke(app, ["keys", "revoke", key_id]).exit_code == 0
    unknown = runner.invoke(app, ["keys", "create", "--name", "x", "--scopes", "root"])
    assert unknown.exit_code == 2
    assert "unknown scope" in unknown.output


def test_policy_check_render_and_diff(tmp_path: Path) -> None:
    ok = runner.invoke(app, ["policy", "check", str(DEFAULT_POLICY)])
    assert ok.exit_code == 0, ok.output
    assert "valid" in ok.output
    md = runner.invoke(app, ["policy", "render"])
    assert md.exit_code == 0
    assert md.output.lstrip().startswith("#")
    html_file = tmp_path / "policy.html"
    html = runner.invoke(app, ["policy", "render", "--format", "html", "-o", str(html_file)])
    assert html.exit_code == 0
    assert "<html" in html_file.read_text()
    same = runner.invoke(app, ["policy", "diff", str(DEFAULT_POLICY), str(DEFAULT_POLICY)])
    assert same.exit_code == 0
    assert "no rule changes" in same.output


def test_policy_check_names_the_line(tmp_path: Path) -> None:
    text = DEFAULT_POLICY.read_text()
    broken = tmp_path / "broken.yaml"
    broken.write_text(text.replace("period: P30D", "period: thirty days", 1))
    result = runner.invoke(app, ["policy", "check", str(broken)])
    assert result.exit_code == 2
    assert "broken.yaml:" in result.output


def test_policy_check_refuses_an_alias_bomb_with_its_line(tmp_path: Path) -> None:
    bomb = tmp_path / "laughs.yaml"
    bomb.write_text(ALIAS_BOMB)
    result = runner.invoke(app, ["policy", "check", str(bomb)])
    assert result.exit_code == 2
    assert "laughs.yaml:1:" in result.output
    assert "anchors and aliases are not allowed" in " ".join(result.output.split())


def _register_people(n: int, *, start: int = 0) -> None:
    from safehold import migrate
    from safehold.config import load_settings
    from safehold.db import transaction
    from safehold.runtime import build_runtime
    from safehold.subjects import rules, service

    runtime = build_runtime(load_settings())
    migrate.upgrade(runtime.engine)
    ctx = service.Context(runtime.vault, runtime.policy, runtime.clock)
    with transaction(runtime.sessions) as session:
        for i in range(start, start + n):
            contact = rules.contact(name=f"Pat Example{i}", email=f"pat{i}@example.com")
            service.register(
                session, ctx, actor=Actor("admin", "test"), contact=contact,
                marketing_opt_in=False, policy_version="v1",
            )  # fmt: skip
    runtime.close()


def test_keys_rotate_rewraps_every_data_key_and_status_shows_it() -> None:
    _register_people(3)
    rotated = runner.invoke(app, ["keys", "rotate"])
    assert rotated.exit_code == 0, rotated.output
    assert "6 data keys re-wrapped" in rotated.output  # 2 classes each: contact, invoice
    status = runner.invoke(app, ["keys", "status"])
    rows = [line.split() for line in status.output.splitlines() if line.split()[:1] == ["│"]]
    assert ["│", "v1", "│", "0", "│", "│"] in rows
    assert ["│", "v2", "│", "6", "│", "yes", "│"] in rows
    resumed = runner.invoke(app, ["keys", "rotate", "--resume"])
    assert "0 data keys re-wrapped" in resumed.output


def test_audit_verify_reports_intact_and_broken_chains(data_dir: Path) -> None:
    import sqlite3

    _register_people(2)
    intact = runner.invoke(app, ["audit", "verify"])
    assert intact.exit_code == 0, intact.output
    assert "intact: 2 entries" in intact.output
    with sqlite3.connect(data_dir / "var" / "safehold.db") as db:
        guards_off_sqlite(db)  # as the database's owner can
        db.execute("UPDATE audit_entries SET purpose = 'platform_improvement' WHERE seq = 2")
        chain, position = db.execute(
            "SELECT chain, position FROM audit_entries WHERE seq = 2"
        ).fetchone()
    broken = runner.invoke(app, ["audit", "verify"])
    assert broken.exit_code == 1
    assert f"broken at chain {chain}, position {position}" in broken.output


def test_audit_rotate_key_keys_new_entries_and_travels_with_the_kek(data_dir: Path) -> None:
    import sqlite3

    _register_people(1)
    rotated = runner.invoke(app, ["audit", "rotate-key"])
    assert rotated.exit_code == 0, rotated.output
    assert "audit key version 1 created, wrapped by KEK v1" in rotated.output
    _register_people(1, start=1)  # a new process: it reads the new version at its first append
    kek = runner.invoke(app, ["keys", "rotate"])
    assert "1 audit keys re-wrapped, 0 left" in " ".join(kek.output.split())
    assert runner.invoke(app, ["audit", "verify"]).exit_code == 0
    with sqlite3.connect(data_dir / "var" / "safehold.db") as db:
        keyed = db.execute("SELECT action, key_version FROM audit_entries ORDER BY seq").fetchall()
    assert keyed[0] == ("subject.register", 0)
    assert ("audit.key_rotated.v1", 1) in keyed  # keyed by the version it created
    assert keyed[-1] == ("subject.register", 1)


def test_a_checkpoint_kept_elsewhere_catches_a_cut_tail(
    data_dir: Path,
) -> None:
    import sqlite3

    _register_people(3)
    made = runner.invoke(app, ["audit", "checkpoint"])
    assert made.exit_code == 0, made.output
    kept = made.output.strip().splitlines()[-1]  # after the log line: the checkpoint
    assert json.loads(kept)["number"] == 1
    assert runner.invoke(app, ["audit", "verify", "--expect", kept]).exit_code == 0
    with sqlite3.connect(data_dir / "var" / "safehold.db") as db:  # C6: cut, head moved back
        guards_off_sqlite(db)
        chain, position = db.execute(
            "SELECT chain, MAX(position) FROM audit_entries GROUP BY chain LIMIT 1"
        ).fetchone()
        db.execute("DELETE FROM audit_checkpoints")
        db.execute("DELETE FROM audit_entries WHERE chain = ? AND position = ?", (chain, position))
        db.execute(
            "UPDATE audit_head SET last_seq = ?, last_hash = COALESCE((SELECT hash FROM "
            "audit_entries WHERE chain = ? AND position = ?), ?) WHERE id = ?",
            (position - 1, chain, position - 1, "0" * 64, chain),
        )
    (data_dir / "var" / "keys" / "audit-checkpoints.jsonl").unlink()
    broken = runner.invoke(app, ["audit", "verify", "--expect", kept])
    assert broken.exit_code == 1
    assert "checkpoint 1 is missing from the database" in broken.output.replace("\n", " ")


def test_an_edited_checkpoint_file_is_reported(data_dir: Path) -> None:
    _register_people(1)
    assert runner.invoke(app, ["audit", "checkpoint"]).exit_code == 0
    path = data_dir / "var" / "keys" / "audit-checkpoints.jsonl"
    path.write_text(path.read_text().replace('"number":1', '"number":7'))
    broken = runner.invoke(app, ["audit", "verify"])
    assert broken.exit_code == 1
    output = broken.output.replace("\n", " ")
    assert "audit-checkpoints.jsonl line 1" in output
    assert "signature invalid" in output


def test_policy_publish_versions_and_acceptances(tmp_path: Path) -> None:
    first = runner.invoke(app, ["policy", "publish", str(DEFAULT_POLICY)])
    assert first.exit_code == 0, first.output
    assert "published v1 (minor)" in first.output
    again = runner.invoke(app, ["policy", "publish", str(DEFAULT_POLICY)])
    assert again.exit_code == 2
    assert "already published as v1" in again.output
    shorter = tmp_path / "v2.yaml"
    shorter.write_text(DEFAULT_POLICY.read_text().replace("period: P13M", "period: P12M"))
    second = runner.invoke(app, ["policy", "publish", str(shorter), "--effective", "2099-01-01"])
    assert second.exit_code == 0, second.output
    assert "published v2 (minor), in force from 2099-01-01" in second.output
    listed = runner.invoke(app, ["policy", "versions"])
    assert "v1" in listed.output
    assert "v2" in listed.output
    _register_people(2)
    report = runner.invoke(app, ["policy", "acceptances", "--version", "1"])
    assert "v1: 2 accepted, 0 notified, 0 pending" in report.output  # signed up on "v1"
    later = runner.invoke(app, ["policy", "acceptances", "--version", "2"])
    assert "v2: 0 accepted, 0 notified, 2 pending" in later.output
    as_csv = runner.invoke(app, ["policy", "acceptances", "--version", "1", "--format", "csv"])
    assert as_csv.output.splitlines()[0] == "subject_id,status,accepted_version,how,at"
    withdrawn = runner.invoke(app, ["policy", "withdraw", "2"])
    assert withdrawn.exit_code == 0, withdrawn.output
    assert "withdrew v2: 0 unsent notice(s) stopped, 0 person(s)" in withdrawn.output
    assert "withdrawn" in runner.invoke(app, ["policy", "versions"]).output
    again = runner.invoke(app, ["policy", "withdraw", "2"])
    assert again.exit_code == 2
    assert "v2 is already withdrawn" in again.output


def test_publish_refuses_a_broken_file_with_its_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        DEFAULT_POLICY.read_text().replace("lawful_basis: contract", "lawful_basis: whim", 1)
    )
    result = runner.invoke(app, ["policy", "publish", str(broken)])
    assert result.exit_code == 2
    assert "broken.yaml:" in result.output


def test_the_start_note_names_the_version_in_force_and_what_the_file_is(tmp_path: Path) -> None:
    from safehold.cli_support import policy_note
    from safehold.config import load_settings
    from safehold.db import transaction
    from safehold.policy import load_policy
    from safehold.policy.rules import content_hash
    from safehold.runtime import build_runtime

    assert runner.invoke(app, ["policy", "publish", str(DEFAULT_POLICY)]).exit_code == 0
    newer = tmp_path / "newer.yaml"
    newer.write_text(DEFAULT_POLICY.read_text().replace("period: P13M", "period: P12M"))
    assert runner.invoke(app, ["policy", "publish", str(newer)]).exit_code == 0  # v2, now
    runtime = build_runtime(load_settings())

    def note() -> str:
        with transaction(runtime.sessions) as session:
            runtime.book.load(session)
        return policy_note(
            runtime.book, path=DEFAULT_POLICY, now=runtime.clock.now(),
            file_hash=content_hash(load_policy(DEFAULT_POLICY)),
        )  # fmt: skip

    said = note()  # the default file, while v2 (from another file) is in force
    assert said.startswith("policy in force: v2\n")
    assert "is the text of v1, an earlier version" in said
    assert "publishing it again would bring v1's rules back" in said
    later = tmp_path / "later.yaml"
    later.write_text(DEFAULT_POLICY.read_text().replace("period: P13M", "period: P11M"))
    scheduled = ["policy", "publish", str(later), "--effective", "2099-01-01"]
    assert runner.invoke(app, scheduled).exit_code == 0
    assert "v3 takes effect 2099-01-01 00:00 UTC" in note()
    edited = tmp_path / "edited.yaml"
    edited.write_text(DEFAULT_POLICY.read_text().replace("period: P13M", "period: P10M"))
    unknown = policy_note(
        runtime.book, path=edited, now=runtime.clock.now(),
        file_hash=content_hash(load_policy(edited)),
    )  # fmt: skip
    assert "matches no published version" in unknown
    assert "would make it the next version, replacing v3's rules" in unknown
    same = policy_note(
        runtime.book, path=newer, now=runtime.clock.now(),
        file_hash=content_hash(load_policy(newer)),
    )  # fmt: skip
    assert same.endswith("(SAFEHOLD_POLICY) is the text of v2")
    runtime.close()
