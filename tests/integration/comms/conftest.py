from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from safehold.comms.mail import SmtpMailer
from safehold.config import Settings
from tests.integration.comms.smtp import SmtpServer
from tests.integration.comms.support import comms_settings


@pytest.fixture
def settings(tmp_path: Path, smtp: SmtpServer) -> Settings:
    return comms_settings(tmp_path, smtp)


@pytest.fixture
def mailer(settings: Settings) -> Iterator[SmtpMailer]:
    m = SmtpMailer.from_settings(settings)
    yield m
    m.close()
