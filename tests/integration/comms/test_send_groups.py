"""Send transactions sized to the SMTP server's pace: a fast server gets groups up to the
cap (fewer transactions per e-mail), a slow one groups of one (short lock holds)."""

from __future__ import annotations

import time

from safehold.comms.mail import SmtpMailer
from safehold.runtime import Runtime
from tests.integration.comms.smtp import SmtpServer
from tests.integration.comms.support import counts, deliver_all, enqueue, register


class GroupCounter:
    """Counts the e-mails handed over between connects: the worker connects once before
    each send transaction, so these are the send groups' sizes. ``pause``: a slow server."""

    def __init__(self, mailer: SmtpMailer, pause: float = 0.0) -> None:
        self.mailer, self.pause, self.groups = mailer, pause, [0]

    def connect(self) -> None:
        self.mailer.connect()
        if self.groups[-1]:
            self.groups.append(0)

    def send(self, message: bytes, *, sender: str, recipient: str) -> None:
        time.sleep(self.pause)
        self.mailer.send(message, sender=sender, recipient=recipient)
        self.groups[-1] += 1

    def close(self) -> None:
        self.mailer.close()


def test_send_groups_grow_to_the_cap_with_a_fast_server(
    runtime: Runtime, smtp: SmtpServer, mailer: SmtpMailer
) -> None:
    people = [register(runtime, f"Viewer Number{i}", f"viewer{i}@example.com") for i in range(25)]
    message_id = enqueue(runtime, "service_update", people)
    counter = GroupCounter(mailer)
    report = deliver_all(runtime, counter, group=2, max_group=8, window=60.0)
    assert report.sent == 25
    assert counts(runtime, message_id) == {"sent": 25}
    assert counter.groups == [2, 8, 8, 7]
    assert len(smtp.inbox.received) == 25


def test_send_groups_shrink_to_one_e_mail_with_a_slow_server(
    runtime: Runtime, smtp: SmtpServer, mailer: SmtpMailer
) -> None:
    people = [register(runtime, f"Viewer Number{i}", f"viewer{i}@example.com") for i in range(5)]
    message_id = enqueue(runtime, "service_update", people)
    counter = GroupCounter(mailer, pause=0.05)
    deliver_all(runtime, counter, group=2, window=0.04)  # one e-mail takes longer than that
    assert counter.groups == [2, 1, 1, 1]
    assert counts(runtime, message_id) == {"sent": 5}
