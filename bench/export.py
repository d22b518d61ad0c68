"""Access export: peak memory (RSS) of streaming the JSON export of one person with 1M events,
measured in a child process, beside a child that does only the same setup (imports, runtime,
database open) and exports nothing: the baseline of the same run. Target: under 150 MB.

    .venv/bin/python -m bench.export [--events N]

The person's events are written straight to storage (bench.erasure.fill_events: a tenth
carry an encrypted search query, decrypted by the export). SQLite only: the export's memory
does not depend on the backend, its batches do the same work on both.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench._common import POLICY, row
from bench.erasure import fill_events, new_person
from safehold import migrate
from safehold.config import Settings
from safehold.logs import configure_logging
from safehold.runtime import build_runtime

TARGET_MB = 150


def _run_child(data_dir: Path, subject: uuid.UUID, mode: str) -> tuple[float, int, float]:
    out = subprocess.run(  # noqa: S603 - this interpreter, this module, our own arguments
        [sys.executable, "-m", "bench._export_child", str(data_dir), str(POLICY), str(subject),
         mode],
        check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    return int(out[-3]) / 1024, int(out[-2]), float(out[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()
    configure_logging("json", "warning")
    with tempfile.TemporaryDirectory(prefix="safehold-bench-export-") as tmp:
        data_dir = Path(tmp)
        runtime = build_runtime(Settings(data_dir=data_dir, policy=POLICY))
        migrate.upgrade(runtime.engine)
        sid = new_person(runtime, "exported")
        started = time.perf_counter()
        fill_events(runtime, sid, args.events, start=datetime.now(UTC) - timedelta(days=340))
        filled = time.perf_counter() - started
        runtime.close()
        base_mb, _, _ = _run_child(data_dir, sid, "baseline")
        peak_mb, size, seconds = _run_child(data_dir, sid, "export")
    print(f"\nexport of one person with {args.events:,} events (sqlite; filled in {filled:.0f} s)")
    row("", "export", "setup only", "ratio")
    row("peak RSS (MB)", f"{peak_mb:.1f}", f"{base_mb:.1f}", f"{peak_mb / base_mb:.2f}x")
    row("  of which the export (MB)", f"{peak_mb - base_mb:.1f}")
    row("JSON written (MB)", f"{size / 1e6:.1f}")
    row("time (s) / events per second", f"{seconds:.1f}", f"{args.events / seconds:,.0f}/s")
    verdict = "meets" if peak_mb < TARGET_MB else "MISSES"
    print(f"  {verdict} the target: peak RSS under {TARGET_MB} MB")


if __name__ == "__main__":
    main()
