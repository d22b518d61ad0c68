"""`safehold backup …` as an operator runs it on the embedded database: create, list,
verify, restore into an empty data directory, and `serve` refusing a copy put back by hand
until `backup replay` has run."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from safehold.backup import archive
from safehold.cli import app
from safehold.config import load_settings
from safehold.requests import jobs as request_jobs
from safehold.runtime import Runtime, build_runtime
from safehold.subjects.models import Subject
from safehold.vault.models import DataKey
from tests.audit_guards import guards_off_sqlite
from tests.conftest import DEFAULT_POLICY
from tests.e2e.test_serve import free_port, serve_env
from tests.integration.requests.support import ctx, person, verified

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in [k for k in os.environ if k.startswith("SAFEHOLD_") and "TEST" not in k]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SAFEHOLD_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("SAFEHOLD_POLICY", str(DEFAULT_POLICY))
    monkeypatch.setenv("SAFEHOLD_BACKUP_DIR", str(tmp_path / "backups"))
    return tmp_path / "var"


@pytest.fixture
def runtime(data_dir: Path) -> Iterator[Runtime]:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    made = build_runtime(load_settings())
    yield made
    made.close()


def backed_up_then_erased(runtime: Runtime) -> tuple[Path, uuid.UUID, uuid.UUID]:
    """Two people, a backup, then one of them erased: (backup folder, erased, kept)."""
    erased, kept = person(runtime, "Fay"), person(runtime, "Gus")
    made = runner.invoke(app, ["backup", "create"])
    assert made.exit_code == 0, made.output
    assert "holds no key material" in made.output
    assert "back them up separately" in made.output
    folder = Path(
        next(ln for ln in made.output.splitlines() if ln.startswith("backup ")).split()[1]
    )
    request_jobs.erase(runtime.sessions, ctx(runtime), verified(runtime, erased))
    return folder, erased, kept


def shredded_keys(runtime: Runtime, subject_id: uuid.UUID) -> list[str]:
    with runtime.sessions() as session:
        query = select(DataKey.retention_class).where(
            DataKey.subject_id == subject_id, DataKey.retention_class == "account_contact"
        )
        return list(session.scalars(query))


def test_create_list_and_the_manifest(runtime: Runtime, data_dir: Path) -> None:
    folder, _erased, _kept = backed_up_then_erased(runtime)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["people"] == 2
    assert manifest["holds_key_material"] is False
    assert manifest["keys"] == f"key file {data_dir / 'keys' / 'kek.json'}"
    assert manifest["kek_versions"] == ["v1"]
    assert manifest["audit"]["entries"] > 0
    key_file = (data_dir / "keys" / "kek.json").read_text()
    secret = json.loads(key_file)["versions"][0]["key"]
    assert secret.encode() not in (folder / "database.sqlite").read_bytes()
    assert oct((folder / "database.sqlite").stat().st_mode & 0o777) == "0o600"
    listed = runner.invoke(app, ["backup", "list"])
    assert listed.exit_code == 0, listed.output
    assert folder.name in listed.output


def test_verify_restores_into_scratch_and_reports(runtime: Runtime) -> None:
    folder, _erased, _kept = backed_up_then_erased(runtime)
    checked = runner.invoke(app, ["backup", "verify", str(folder)])
    assert checked.exit_code == 0, checked.output
    assert "re-applied 1 erasures" in checked.output
    assert "drill passed" in checked.output


def test_restore_into_an_empty_data_dir_replays_the_erasure(
    runtime: Runtime, data_dir: Path
) -> None:
    assert runner.invoke(app, ["audit", "checkpoint"]).exit_code == 0  # in the backup
    folder, erased, kept = backed_up_then_erased(runtime)
    assert runner.invoke(app, ["audit", "checkpoint"]).exit_code == 0  # after it: not in it
    runtime.close()
    refused = runner.invoke(app, ["backup", "restore", str(folder)])
    assert refused.exit_code == 2
    assert "not empty" in refused.output
    for path in data_dir.glob("safehold.db*"):
        path.unlink()  # the database is lost; the keys and the ledger are not
    restored = runner.invoke(app, ["backup", "restore", str(folder)])
    assert restored.exit_code == 0, restored.output
    assert "re-applied 1 erasures" in restored.output
    after = build_runtime(load_settings())
    try:
        with after.sessions() as session:
            assert session.get(Subject, erased).status == "erased"  # type: ignore[union-attr]
            assert session.get(Subject, kept).status == "active"  # type: ignore[union-attr]
        assert shredded_keys(after, erased) == []
        assert shredded_keys(after, kept) == ["account_contact"]
    finally:
        after.close()
    audit = runner.invoke(app, ["audit", "verify"])
    assert audit.exit_code == 0, audit.output  # against the checkpoints the copy holds
    checkpoints = data_dir / "keys" / "audit-checkpoints.jsonl"
    assert len(checkpoints.read_text().splitlines()) == 1
    (before,) = data_dir.glob("keys/audit-checkpoints.jsonl.before-restore-*")
    assert len(before.read_text().splitlines()) == 2  # kept whole beside


def test_serve_refuses_a_copy_put_back_by_hand_until_replayed(
    runtime: Runtime, data_dir: Path
) -> None:
    folder, erased, _kept = backed_up_then_erased(runtime)
    runtime.close()
    for path in data_dir.glob("safehold.db*"):
        path.unlink()
    shutil.copy(folder / "database.sqlite", data_dir / "safehold.db")  # no replay
    env = serve_env(data_dir, free_port()) | {"SAFEHOLD_POLICY": str(DEFAULT_POLICY)}
    served = subprocess.run(
        [sys.executable, "-m", "safehold", "serve", "--no-demo"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert served.returncode == 3, served.stderr
    assert "behind the erasure ledger" in served.stderr
    assert "safehold backup replay" in served.stderr
    worker = subprocess.run(  # its own process: the worker configures logging for itself
        [sys.executable, "-m", "safehold", "worker", "--once"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert worker.returncode == 3, worker.stderr
    assert "behind the erasure ledger" in worker.stderr
    replayed = runner.invoke(app, ["backup", "replay"])
    assert replayed.exit_code == 0, replayed.output
    assert "re-applied 1 erasures" in replayed.output
    after = build_runtime(load_settings())
    try:
        assert shredded_keys(after, erased) == []
    finally:
        after.close()


def test_a_restore_without_the_keys_it_needs_is_refused(runtime: Runtime, data_dir: Path) -> None:
    folder, _erased, _kept = backed_up_then_erased(runtime)
    runtime.close()
    for path in data_dir.glob("safehold.db*"):
        path.unlink()
    (data_dir / "keys" / "kek.json").unlink()  # the keys were not put back: new ones are made
    refused = runner.invoke(app, ["backup", "restore", str(folder)])
    assert refused.exit_code == 2
    assert "cannot open this backup's data keys of KEK version v1" in refused.output
    assert not (data_dir / "safehold.db").exists()


def test_verify_fails_on_a_backup_whose_audit_log_was_altered(runtime: Runtime) -> None:
    folder, _erased, _kept = backed_up_then_erased(runtime)
    copy = sqlite3.connect(folder / "database.sqlite")
    guards_off_sqlite(copy)
    copy.execute("UPDATE audit_entries SET action = 'subject.read' WHERE seq = 1")
    copy.commit()
    copy.close()
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["sha256"] = archive.sha256(folder / "database.sqlite")  # a consistent forgery
    (folder / "manifest.json").write_text(json.dumps(manifest))
    checked = runner.invoke(app, ["backup", "verify", str(folder)])
    assert checked.exit_code == 1, checked.output
    assert "problem: audit log broken" in checked.output


def test_a_backup_file_that_does_not_match_its_manifest_is_refused(runtime: Runtime) -> None:
    folder, _erased, _kept = backed_up_then_erased(runtime)
    with (folder / "database.sqlite").open("ab") as handle:
        handle.write(b"\0")
    checked = runner.invoke(app, ["backup", "verify", str(folder)])
    assert checked.exit_code == 2
    assert "does not match its manifest's SHA-256" in checked.output
    runtime.close()
    data_dir = runtime.settings.data_dir
    for path in data_dir.glob("safehold.db*"):
        path.unlink()
    refused = runner.invoke(app, ["backup", "restore", str(folder)])
    assert refused.exit_code == 2
    assert "does not match its manifest's SHA-256" in refused.output
    assert list(data_dir.glob("safehold.db*")) == []  # the copy is removed
