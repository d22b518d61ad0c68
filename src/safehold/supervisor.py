"""`safehold serve --workers N`: N server processes on one port, under one supervisor.

``safehold serve`` binds the port, migrates and prepares the database in the process it
started in (the supervisor); then, with more than one worker, it hands the listening socket
to N worker processes (uvicorn's multiprocess supervisor, ``uvicorn.supervisors.Multiprocess``).
Each worker is a fresh interpreter (spawned) that builds its own runtime — its own
connection pool, key provider, policy book and rate limiter — with :func:`worker_app`, and
the kernel spreads the connections among them.

- A worker that dies (SIGKILL, a crash, a hang that stops it answering the supervisor's
  health check) is replaced; the others keep serving meanwhile.
- SIGTERM or SIGINT to the supervisor is passed to every worker: each stops accepting,
  finishes the requests in flight, and exits; then the supervisor exits. A supervisor killed
  outright (SIGKILL) cannot pass anything on: each worker sees at once that it is gone and
  stops the same way (:func:`watch_supervisor`).
- The periodic jobs (``safehold.worker``), when this ``serve`` runs them, run in the
  supervisor only: once, not N times.

With one worker nothing of this happens: the server runs in the supervisor's own process,
as ``safehold serve`` always did.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import threading
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.supervisors import Multiprocess

from safehold import heap, worker
from safehold.app import create_app
from safehold.config import load_settings
from safehold.events import refine
from safehold.logs import configure_logging, get_logger
from safehold.notices.book import REFRESH_SECONDS
from safehold.runtime import Runtime, build_runtime

WORKER_APP = "safehold.supervisor:worker_app"  # what each spawned worker imports and calls
# Seconds a worker has to answer the supervisor's health check (every half second) before it
# counts as hung and is replaced (a worker that exits is replaced at once). A fresh worker
# answers only once its imports are done: seconds, or tens of seconds on an overloaded
# machine (uvicorn's default, 5, had them replaced forever there).
HEALTHCHECK_SECONDS = 60

log = get_logger(__name__)


def worker_app() -> FastAPI:
    """The app of one worker process, built in that process (uvicorn calls this after it
    spawned the worker). The supervisor has checked the settings, migrated the database and
    created the key file already, so a failure here is a worker that cannot start: uvicorn
    then stops the supervisor rather than restart it forever."""
    settings = load_settings()
    configure_logging(settings.log_format, settings.log_level)
    watch_supervisor()
    runtime = build_runtime(settings)
    if runtime.shared is not None:
        runtime.shared.ping()  # safehold_redis_up says from the start whether Redis answers
    # Each serving process parses new User-Agents fully off its request path (decision 0032).
    refine.start(runtime.sessions, runtime.vault.provider.index_key(), runtime.clock)
    app = create_app(runtime)
    heap.settle()  # what start-up built stays: out of the collector's walks (decision 0046)
    return app


def watch_supervisor() -> threading.Thread | None:
    """Stop this worker (SIGTERM to itself: it finishes its requests) once its supervisor is
    gone — killed with SIGKILL, it could not stop its workers, and they would go on holding
    the port with nobody to replace them. multiprocessing gives a spawned process its
    parent's sentinel, which becomes ready when the parent ends, even before this ran."""
    parent = multiprocessing.parent_process()
    if parent is None:  # not a spawned worker
        return None

    def watch() -> None:
        parent.join()  # waits on the sentinel: no polling
        log.warning("supervisor_gone", supervisor=parent.pid)
        os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=watch, name="safehold-supervisor-watch", daemon=True)
    thread.start()
    return thread


def warnings(runtime: Runtime, workers: int) -> list[str]:
    """What start-up says about sharing state between the processes (also logged)."""
    found: list[str] = []
    if runtime.shared is None and workers > 1:
        log.warning("rate_limits_per_process", workers=workers)
        found.append(
            f"{workers} server processes and no SAFEHOLD_REDIS_URL: each process counts its "
            f"own rate limits, so a client gets up to {workers} times each limit, and a newly "
            "published policy version reaches every process within "
            f"{REFRESH_SECONDS:g} seconds (docs/operations.md, 'Several processes')"
        )
    elif runtime.shared is not None and not runtime.shared.ping():
        found.append(
            "Redis (SAFEHOLD_REDIS_URL) does not answer: until it does, each process counts "
            "its own rate limits (safehold_redis_up is 0 on /metrics)"
        )
    return found


def uvicorn_options(runtime: Runtime, host: str, port: int) -> dict[str, Any]:
    settings = runtime.settings
    return {
        "host": host,
        "port": port,
        "log_config": None,
        # Forwarded headers only from the proxies named (uvicorn's own default believes any
        # from 127.0.0.1): the client address is what the per-client rate limits count.
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": settings.trusted_proxies,
    }


def serve(
    runtime: Runtime, listener: socket.socket, *, host: str, port: int, workers: int, jobs: bool
) -> None:
    """Serve on ``listener`` until SIGTERM or SIGINT: in this process when ``workers`` is 1,
    else in ``workers`` spawned processes supervised by this one."""
    options = uvicorn_options(runtime, host, port)
    background = worker.jobs_in_background(runtime) if jobs else None
    try:
        if workers == 1:
            app = create_app(runtime)
            heap.settle()  # what start-up built stays: out of the collector's walks (0046)
            uvicorn.Server(uvicorn.Config(app, **options)).run(sockets=[listener])
            return
        config = uvicorn.Config(
            WORKER_APP, factory=True, workers=workers,
            timeout_worker_healthcheck=HEALTHCHECK_SECONDS, **options,
        )  # fmt: skip
        log.info("workers_starting", workers=workers, jobs=jobs)
        Multiprocess(config, sockets=[listener]).run()
    finally:
        if background is not None:
            background.stop.set()
