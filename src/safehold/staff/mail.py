"""E-mail to staff: invitations and sign-in codes, sent at once through the deployment's
mailer (``SAFEHOLD_MAIL_BACKEND``), not through the outbox — the outbox addresses people
the service holds data about, and a staff member's address is not stored (only its blind
index), so the message goes to the address just typed or given.

Sending in the request means a code page answers a little later for a member's address
than for another; the per-client and per-address rate limits bound what that tells a
prober, and decision 0038 records the trade-off.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from safehold.comms import mail
from safehold.comms.mailers import mailer_for
from safehold.comms.templating import Rendered
from safehold.config import Settings

Send = Callable[[str, str, str], None]  # (address, subject, text)


def sender(settings: Settings, operator: str, clock: Callable[[], datetime]) -> Send:
    """A :data:`Send` over the configured mailer (one connection per message)."""
    config = mail.MailConfig.from_settings(settings, operator)

    def send(address: str, subject: str, text: str) -> None:
        domain = config.mail_from.rpartition("@")[2] or "localhost"
        message = mail.compose(
            config, Rendered(subject, text, None), to=address,
            message_id=f"<{uuid.uuid4().hex}@{domain}>", date=clock(), unsubscribe_token=None,
        )  # fmt: skip
        mailer = mailer_for(settings)
        mailer.connect()
        try:
            mailer.send(message, sender=config.mail_from, recipient=address)
        finally:
            mailer.close()

    return send


def invitation_text(operator: str, role: str, link: str, days: int) -> str:
    return (
        f"Hello,\n\nYou are invited to the admin console of {operator} as {role}.\n\n"
        f"Sign in at {link} with this e-mail address within {days} days: a one-time code is "
        "e-mailed to you, and on your first sign-in you set up an authenticator app, whose "
        "six-digit codes you enter after the e-mailed one every time you sign in."
    )


def code_text(operator: str, code: str, minutes: int) -> str:
    return (
        f"Your code to sign in to the admin console of {operator} is {code}.\n\n"
        f"It expires in {minutes} minutes and works once. If you did not ask to sign in, "
        "ignore this e-mail: nobody can sign in without the code and your authenticator app."
    )
