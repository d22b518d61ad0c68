"""`safehold serve`'s app under uvicorn, logging as `serve` does, plus two routes that raise
an exception whose message quotes (fictional) personal data: for ``test_error_logs``.

Run as ``python -m tests.e2e.raising_app PORT DATA_DIR``."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import uvicorn
from fastapi.responses import StreamingResponse

from safehold import migrate
from safehold.app import create_app
from safehold.config import Settings
from safehold.logs import configure_logging
from safehold.runtime import build_runtime
from tests.conftest import DEFAULT_POLICY

QUOTED = "Bo Tumbleweed <bo.tumbleweed@example.com>"


class StoreFailed(Exception):
    """What a driver or a validation error looks like: its message quotes the values."""


def main() -> None:
    port, data_dir = int(sys.argv[1]), Path(sys.argv[2])
    configure_logging("json", "info")
    runtime = build_runtime(Settings(data_dir=data_dir, policy=DEFAULT_POLICY))
    migrate.upgrade(runtime.engine)
    app = create_app(runtime)

    @app.get("/raises")
    def raises() -> None:
        raise StoreFailed(f"could not store {QUOTED}")

    @app.get("/raises-mid-answer")
    def raises_mid_answer() -> StreamingResponse:
        def chunks() -> Iterator[bytes]:
            yield b"first part\n"
            raise StoreFailed(f"could not read {QUOTED}")

        return StreamingResponse(chunks(), media_type="text/plain")

    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None)  # as `safehold serve`


if __name__ == "__main__":
    main()
