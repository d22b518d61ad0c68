"""Scaling past one process (decision 0036), on SQLite and (when configured) PostgreSQL:

(a) requests per second of `safehold serve --workers 1` against `--workers 2` on one port,
    under bench/load.py's mixed load (event ingestion, purpose-scoped reads, campaigns,
    erasures; its client threads), each for a fixed time; the ratio is 2-worker over
    1-worker, measured in the same run. The clients run on the same machine and share its
    cores, so on 2 cores expect well under 2x: the figure is for scaling, not a timed test.
    Every run also counts 5xx answers and "database is locked" in the servers' logs.
(b) the per-address sign-in limit across 2 processes: two `safehold serve` on their own
    ports and one database, codes for one address asked of each in turn, with Redis and
    without: how many were allowed against the limit.

Exit code 1 when a 5xx answer, a "database is locked" or a limit that did not hold with
Redis was seen.

    .venv/bin/python -m bench.scale [--seconds 10] [--people 40]

PostgreSQL from SAFEHOLD_BENCH_POSTGRES_URL or SAFEHOLD_TEST_POSTGRES_URL; Redis from
SAFEHOLD_BENCH_REDIS_URL or SAFEHOLD_TEST_REDIS_URL (part (b) and the Redis runs are skipped,
saying so, without one).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from limits import parse

from bench import load
from bench._common import POLICY, backends, free_port, fresh_runtime
from safehold import ratelimit
from safehold.runtime import Runtime

REDIS_ENV = ("SAFEHOLD_BENCH_REDIS_URL", "SAFEHOLD_TEST_REDIS_URL")
WARM_UP_SECONDS = 3.0  # reads only, not counted
START_SECONDS = 180  # N workers import everything first; this machine may be very busy
CSRF = re.compile(r'name="csrf_token" value="([A-Za-z0-9_-]{43})"')
ADDRESS_LIMIT = parse(ratelimit.LIMITS["signin.code.address"]).amount


def redis_url() -> str | None:
    return next((os.environ[v] for v in REDIS_ENV if os.environ.get(v)), None)


def server_env(runtime: Runtime, redis: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFEHOLD_")}
    env |= {
        "SAFEHOLD_DATA_DIR": str(runtime.settings.data_dir),  # the same key file (and SQLite)
        "SAFEHOLD_POLICY": str(POLICY), "SAFEHOLD_LOG_LEVEL": "info",  # workers' start lines
        "SAFEHOLD_LOG_FORMAT": "json",
    }  # fmt: skip
    if runtime.settings.database_url:
        env["SAFEHOLD_DATABASE_URL"] = runtime.settings.database_url
    if redis:
        env["SAFEHOLD_REDIS_URL"] = redis
    return env


@contextmanager
def serving(env: dict[str, str], log: Path, *options: str) -> Iterator[str]:
    """`safehold serve` with ``options`` on a free port until the block ends (SIGTERM)."""
    port = free_port()
    with log.open("ab") as out:
        proc = subprocess.Popen(  # noqa: S603 - this interpreter, options from this file
            [sys.executable, "-m", "safehold", "serve", "--no-demo", "--no-jobs", *options],
            env={**env, "SAFEHOLD_PORT": str(port)}, stdout=out, stderr=out,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"serve did not start: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        workers = int(options[options.index("--workers") + 1]) if "--workers" in options else 1
        while log.read_text().count("Application startup complete") < workers:
            if time.monotonic() > deadline:  # every worker up, not just the first to answer
                raise RuntimeError(f"not every worker started: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def throughput(backend: str, workers: int, seconds: float, people: int) -> tuple[float, int, int]:
    """Requests per second under the mixed load, 5xx answers, "database is locked" lines."""
    with fresh_runtime(backend) as runtime, tempfile.TemporaryDirectory() as tmp:
        keys, ids = load.seed(runtime, people)
        split = len(ids) // 2
        log = Path(tmp) / "serve.log"
        with serving(server_env(runtime, None), log, "--workers", str(workers)) as url:
            world = load.World(runtime, [url, url], keys, ids[:split], ids[split:])
            load.drive(world, {"read": 2}, WARM_UP_SECONDS)  # each worker's first requests
            ops = load.drive(world, load.WORKERS, seconds)
        statuses = Counter[int]()
        for op in ops.values():
            statuses.update(op.statuses)
        answered = sum(statuses.values())
        errors = sum(c for s, c in statuses.items() if s >= 500)
        locked = log.read_text().count("database is locked")
    return answered / seconds, errors, locked


def ask_for_code(http: httpx.Client, email: str) -> int:
    page = http.get("/me/sign-in")
    found = CSRF.search(page.text)
    if found is None:
        raise RuntimeError(f"no sign-in form: {page.status_code}")
    data = {"email": email, "csrf_token": found.group(1)}
    return http.post("/me/sign-in", data=data).status_code


def codes_allowed(redis: str | None, attempts: int) -> int:
    """Sign-in codes for one address allowed by two processes asked in turn."""
    with fresh_runtime("sqlite") as runtime, tempfile.TemporaryDirectory() as tmp:
        env, log = server_env(runtime, redis), Path(tmp) / "serve.log"
        with serving(env, log) as one, serving(env, log) as two:
            clients = [httpx.Client(base_url=u, timeout=30) for u in (one, two)]
            try:
                statuses = [ask_for_code(clients[n % 2], "scale.bench@example.com")
                            for n in range(attempts)]  # fmt: skip
            finally:
                for client in clients:
                    client.close()
    return statuses.count(303)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="load per configuration")
    parser.add_argument("--people", type=int, default=40, help="half read, half erased")
    args = parser.parse_args()
    failed = False
    threads = ", ".join(f"{n} {k}" for k, n in load.WORKERS.items())
    print(f"\n(a) mixed load (threads: {threads}), {args.seconds:g} s per configuration; "
          f"clients share this machine's {os.cpu_count()} cores with the servers "
          f"(load average {os.getloadavg()[0]:.1f})")  # fmt: skip
    print(f"  {'database':<11} {'workers 1':>12} {'workers 2':>12} {'ratio':>7}   5xx, locked")
    for backend in backends():
        one = throughput(backend, 1, args.seconds, args.people)
        two = throughput(backend, 2, args.seconds, args.people)
        ratio = two[0] / one[0] if one[0] else float("nan")
        problems = f"{one[1]}+{two[1]}, {one[2]}+{two[2]}"
        print(f"  {backend:<11} {one[0]:>10.1f}/s {two[0]:>10.1f}/s {ratio:>6.2f}x   {problems}")
        failed |= bool(one[1] or two[1] or one[2] or two[2])
    if "postgresql" not in backends():
        print("  postgresql: skipped (set SAFEHOLD_BENCH_POSTGRES_URL or _TEST_POSTGRES_URL)")
    attempts = 3 * ADDRESS_LIMIT
    print(f"\n(b) sign-in codes for one address, {attempts} asked of 2 processes in turn "
          f"(limit {ADDRESS_LIMIT} per 15 minutes)")  # fmt: skip
    redis = redis_url()
    alone = codes_allowed(None, attempts)
    print(f"  without Redis: {alone} allowed ({alone / ADDRESS_LIMIT:.1f}x the limit)")
    if redis is None:
        print("  with Redis: skipped (set SAFEHOLD_BENCH_REDIS_URL or SAFEHOLD_TEST_REDIS_URL)")
    else:
        shared = codes_allowed(redis, attempts)
        print(f"  with Redis:    {shared} allowed ({shared / ADDRESS_LIMIT:.1f}x the limit)")
        failed |= shared != ADDRESS_LIMIT
    print("  checks: " + ("FAILED" if failed else "all passed"))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
