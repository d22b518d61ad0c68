"""The measured process of bench/export.py: it imports only what an export needs (not the
benchmark's data generators or the HTTP stack), sets up, exports one person (or, as the
baseline, does not), and prints its peak RSS (KiB), the bytes written and the seconds."""

from __future__ import annotations

import resource
import sys
import time
import uuid
from pathlib import Path

from safehold.comms import service as comms
from safehold.config import Settings
from safehold.logs import configure_logging
from safehold.requests import export, service
from safehold.runtime import build_runtime


def main(data_dir: Path, policy: Path, subject: str, mode: str) -> None:
    configure_logging("json", "error")
    runtime = build_runtime(Settings(data_dir=data_dir, policy=policy))
    ctx = service.Context(runtime.vault, runtime.policy, runtime.clock, comms.context(runtime))
    written, started = 0, time.perf_counter()
    if mode == "export":
        for chunk in export.stream_json(runtime.sessions, ctx, uuid.UUID(subject)):
            written += len(chunk)
    elapsed = time.perf_counter() - started
    runtime.close()
    print(f"{peak_kib()} {written} {elapsed:.3f}")


def peak_kib() -> int:
    """This process's own peak RSS. Not ``getrusage().ru_maxrss``: Linux carries that over
    an exec from the parent that spawned us (whose RSS after filling a million events would
    be measured instead); ``VmHWM`` belongs to this process's memory map only."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # not Linux: the best there is


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4])
