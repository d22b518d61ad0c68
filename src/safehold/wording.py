"""How Safehold puts counts, periods, dates and its own ids into words for people: the one
formatter the privacy center (/me) and the access export's readable summary both use, so the
same fact reads the same everywhere ("1 device", "90 days after the account is closed").

Pure functions, no framework; :func:`install` registers them as Jinja filters.
"""

from __future__ import annotations

from datetime import date, datetime

import jinja2

from safehold.policy.document import RetentionFrom
from safehold.policy.durations import duration_in_words
from safehold.policy.render import join_words

# Ids whose words are not the id with spaces (``smart_tv`` is not "smart tv").
_LABELS = {
    "smart_tv": "smart TV",
    "set_top_box": "set-top box or streaming stick",
    "console": "games console",
    "media_player": "portable media player",
    "car": "car's built-in screen",
    "unknown": "unknown kind of device",
    "opted_in": "said yes",
    "opted_out": "said no",
    "privacy_center": "in the privacy center",
    "sign_up": "when you signed up",
    "one_click": "with the one-click unsubscribe link",
    "reply": "by replying to an e-mail",
    "api": "through our service",
}


def count(n: int, singular: str, plural: str | None = None) -> str:
    """``count(1, "device")`` -> "1 device", ``count(243, "event")`` -> "243 events"."""
    return f"{n:,} {singular if n == 1 else plural or singular + 's'}"


def period(iso: str, start: RetentionFrom | str) -> str:
    """ "P90D" + account_closed -> "90 days after the account is closed"."""
    return f"{duration_in_words(iso)} {RetentionFrom(start).words}"


def day(moment: datetime | date) -> str:
    """A calendar day as the center shows it everywhere: "2026-12-07"."""
    return moment.strftime("%Y-%m-%d")


def label(raw: str, capital: bool = False) -> str:
    """One of Safehold's ids (a device type, a choice, a channel) in words; ``capital``
    raises the first letter only ("Smart TV", where Jinja's ``capitalize`` gives "Smart tv")."""
    words = _LABELS.get(raw, raw.replace("_", " "))
    return words[:1].upper() + words[1:] if capital else words


def listed(items: list[str]) -> str:
    """["a", "b", "c"] -> "a, b and c" (the published policy's way of listing)."""
    return join_words(items)


def install(env: jinja2.Environment) -> None:
    """The filters ``count``, ``period``, ``day``, ``label`` and ``listed`` for ``env``."""
    env.filters.update(count=count, period=period, day=day, label=label, listed=listed)
