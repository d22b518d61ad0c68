"""`safehold serve` says at start-up when its key provider cannot destroy a month's key
(SAFEHOLD_KEK, decision 0043). (The key file can: ``startup_note`` is None for it,
tests/unit/vault/test_epochs.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench._common import free_port

from safehold.vault.keyring import KeyRing, format_env_value
from tests.conftest import DEFAULT_POLICY


def test_the_env_provider_says_it_cannot_destroy_a_month_key(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFEHOLD_")}
    env |= {"SAFEHOLD_DATA_DIR": str(tmp_path / "var"), "SAFEHOLD_POLICY": str(DEFAULT_POLICY),
            "SAFEHOLD_PORT": str(free_port()), "SAFEHOLD_LOG_LEVEL": "warning",
            "SAFEHOLD_KEK": format_env_value(KeyRing.generate())}  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "safehold", "serve", "--no-demo", "--no-jobs"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    seen = ""
    try:
        assert proc.stdout is not None
        while "Key epochs" not in " ".join(seen.split()):
            line = proc.stdout.readline()
            assert line, f"serve stopped before saying it: {seen}"
            seen += line
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    said = " ".join(seen.split())  # the console wraps long lines
    assert "API docs" in said
    assert "cannot destroy one month's key" in said
    assert "expired month stays readable in backups" in said
