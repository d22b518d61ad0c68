"""Shared helpers for the benchmarks: timing, a fresh Safehold on SQLite or PostgreSQL, a
uvicorn server on a real loopback socket, and printing figures with their ratios."""

from __future__ import annotations

import os
import socket
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url

from safehold import migrate
from safehold.config import Settings
from safehold.runtime import Runtime, build_runtime

ROOT = Path(__file__).resolve().parents[1]
POLICY = ROOT / "policies" / "default.yaml"
PG_ENV = ("SAFEHOLD_BENCH_POSTGRES_URL", "SAFEHOLD_TEST_POSTGRES_URL")


def postgres_url() -> str | None:
    return next((os.environ[v] for v in PG_ENV if os.environ.get(v)), None)


@contextmanager
def fresh_runtime(backend: str) -> Iterator[Runtime]:
    """A migrated Safehold on an empty database: a temp SQLite file or a scratch PG db."""
    with tempfile.TemporaryDirectory(prefix="safehold-bench-") as tmp:
        if backend == "sqlite":
            settings = Settings(data_dir=Path(tmp), policy=POLICY)
            runtime = build_runtime(settings)
            migrate.upgrade(runtime.engine)
            yield runtime
            runtime.close()
            return
        base = postgres_url()
        assert base is not None
        name = f"safehold_bench_{uuid.uuid4().hex[:10]}"
        admin_url = make_url(base).set(drivername="postgresql+psycopg")
        from safehold.db import make_engine

        admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            url = admin_url.set(database=name).render_as_string(hide_password=False)
            runtime = build_runtime(Settings(data_dir=Path(tmp), policy=POLICY, database_url=url))
            migrate.upgrade(runtime.engine)
            yield runtime
            runtime.close()
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def backends() -> list[str]:
    return ["sqlite", "postgresql"] if postgres_url() else ["sqlite"]


@dataclass(frozen=True)
class Timing:
    samples: list[float]  # seconds per operation

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def p99(self) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]

    @property
    def per_second(self) -> float:
        return len(self.samples) / sum(self.samples)


def timed(operation: Callable[[int], object], n: int) -> Timing:
    samples = []
    for i in range(n):
        start = time.perf_counter()
        operation(i)
        samples.append(time.perf_counter() - start)
    return Timing(samples)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a loopback socket in a background thread."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def row(label: str, value: str, baseline: str = "", ratio: str = "") -> None:
    print(f"  {label:<44} {value:>14} {baseline:>14} {ratio:>9}")


def header(title: str) -> None:
    print(f"\n{title}")
    row("", "safehold", "plaintext", "ratio")
