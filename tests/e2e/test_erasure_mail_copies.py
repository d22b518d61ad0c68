"""Issue 17 item 11: the console mail backend's copies (``<data dir>/mail/*.eml``) are
covered by erasure, and the certificate says how many were deleted."""

from __future__ import annotations

from pathlib import Path

import pytest

from safehold.access.rules import Actor
from safehold.comms import jobs as comms_jobs
from safehold.config import Settings
from safehold.requests import jobs as erasure
from safehold.requests import service as requests
from safehold.requests.routes import context as request_context
from safehold.runtime import Runtime
from tests.integration.comms.smtp import SmtpServer
from tests.integration.comms.support import comms_settings, enqueue, register


@pytest.fixture
def settings(tmp_path: Path, smtp: SmtpServer) -> Settings:
    """The development backend: every e-mail printed and kept under the data directory."""
    return comms_settings(tmp_path, smtp, mail_backend="console")


def test_erasure_deletes_the_console_backends_copies_of_the_persons_mail(
    runtime: Runtime, tmp_path: Path
) -> None:
    ada = register(runtime, "Ada Quill", "ada.quill@example.com")
    bo = register(runtime, "Bo Lark", "bo.lark@example.net")
    enqueue(runtime, "service_update", [ada, bo], text="Hello {{ name }}.")
    ctx = request_context(runtime)
    with runtime.sessions() as session:
        made = requests.create(
            session, ctx, actor=Actor("subject", str(ada)), subject_id=ada, kind="erasure",
            channel="privacy_center", made_by="subject", send=False,
        )  # fmt: skip
        requests.verify_signed_in(session, ctx, made, actor=Actor("subject", str(ada)))
        session.commit()
        request_id = made.id
    comms_jobs.run(runtime)
    copies = sorted((tmp_path / "mail").glob("*.eml"))
    assert len(copies) == 3  # Ada's update and confirmation, Bo's update
    assert sum(b"Ada Quill" in p.read_bytes() for p in copies) == 2
    cert = erasure.erase(runtime.sessions, ctx, request_id)
    left = sorted((tmp_path / "mail").glob("*.eml"))
    assert len(left) == 1
    assert b"Bo Lark" in left[0].read_bytes()  # other people's copies stay
    assert cert["erased"]["mail_copies_deleted"] == 2
    assert cert["verification"]["ok"]
