"""Server-side device detection: a User-Agent and the client hints in, coarse fields out.

Three sources, each where it is best (measured by ``bench/devices.py`` on public corpora):

- ``ua-parser`` (its Rust-backed resolver) names the OS and the browser, corrected by the
  client hints (:mod:`safehold.events.quick`, tens of microseconds);
- matomo's detector (the ``device-detector`` package, :mod:`safehold.events.matomo`) names
  the device type, the device's maker, and bots (tens of milliseconds a new string);
- the small IPTV layer (:mod:`safehold.events.iptv`) names the player apps neither knows.

Only coarse fields leave this module (type, maker, OS family and major version, browser or
app family and major version); the User-Agent itself is never stored. :func:`detect` is the
one entry point. Its answers are kept in an in-process LRU. Where no refiner runs (a CLI
command, the demo, a test) a string not seen before is parsed fully at once; in a serving
process :mod:`safehold.events.refine` is installed, and such a string gets the quick answer
while the refiner parses it off the request path, keeps the answer in the persistent parse
cache and corrects what was stored with the quick one (docs/decisions/0032).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from safehold.events import matomo, quick
from safehold.events.quick import NO_HINTS, Hints

__all__ = ["NO_HINTS", "Device", "DeviceType", "Hints", "detect", "detect_uncached"]

DEVICE_CACHE_SIZE = 10_000  # distinct (User-Agent, hints) pairs kept in each process
PROVISIONAL = "~"  # the first character of a quick answer's fingerprint (refine.py)


class DeviceType(StrEnum):
    SMARTPHONE = "smartphone"
    TABLET = "tablet"
    DESKTOP = "desktop"
    SMART_TV = "smart_tv"
    SET_TOP_BOX = "set_top_box"  # also streaming sticks and media players
    CONSOLE = "console"
    FEATURE_PHONE = "feature_phone"
    WEARABLE = "wearable"
    CAR = "car"
    SMART_DISPLAY = "smart_display"
    SMART_SPEAKER = "smart_speaker"
    MEDIA_PLAYER = "media_player"  # portable
    CAMERA = "camera"
    PERIPHERAL = "peripheral"
    BOT = "bot"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Device:
    """What is kept about a device: coarse fields only. ``pending`` is set on a quick answer
    still being refined: the parse-cache key its stored rows are found by (never stored
    beyond the fingerprint of a person's device row, until the refiner corrects it)."""

    device_type: str
    os_family: str | None = None
    os_major: str | None = None
    browser_family: str | None = None
    browser_major: str | None = None
    brand: str | None = None
    pending: str | None = field(default=None, compare=False)

    @property
    def is_bot(self) -> bool:
        return self.device_type == DeviceType.BOT

    @functools.cached_property  # asked per event; the same few devices answer a whole batch
    def fingerprint(self) -> str:
        """Identifies the coarse tuple, to count one person's device once; a quick answer's
        is its own (``~`` and its parse-cache key) so the refiner finds exactly its rows.
        The maker is not part of it: events do not keep it, and a device row made from a
        person's earlier anonymous events must meet the one their sign-in makes."""
        if self.pending is not None:
            return PROVISIONAL + self.pending
        fields: tuple[str | None, ...] = (
            self.device_type, self.os_family, self.os_major, self.browser_family,
            self.browser_major,
        )  # fmt: skip
        text = "\x1f".join(str(v or "") for v in fields)
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def refined(self) -> Device:
        """The same answer, no longer pending."""
        return Device(self.device_type, self.os_family, self.os_major, self.browser_family,
                      self.browser_major, self.brand)  # fmt: skip


def quick_answer(user_agent: str | None, hints: Hints = NO_HINTS) -> Device:
    """The quick parse alone (ua-parser, hints, IPTV layer): tens of microseconds."""
    ua = (user_agent or "").strip()
    if not ua and hints == NO_HINTS:
        return Device(DeviceType.UNKNOWN)
    found = quick.parse(ua, hints)
    return Device(found.device_type or DeviceType.UNKNOWN, found.os_family, found.os_major,
                  found.browser_family, found.browser_major)  # fmt: skip


def detect_uncached(user_agent: str | None, hints: Hints = NO_HINTS) -> Device:
    """The full parse: the quick one, then matomo's detector for the device type, its maker
    and bots (filling in an OS or browser ua-parser could not name). Tens of milliseconds."""
    ua = (user_agent or "").strip()
    if not ua and hints == NO_HINTS:
        return Device(DeviceType.UNKNOWN)
    fast = quick.parse(ua, hints)
    found = matomo.parse(ua, hints.headers())
    if found.is_bot:
        return Device(DeviceType.BOT, fast.os_family, fast.os_major, fast.browser_family,
                      fast.browser_major)  # fmt: skip
    device_type = found.device_type
    if fast.device_type == "set_top_box" or (found.os_name is None and found.brand is None):
        device_type = fast.device_type  # the IPTV layer's box; matomo's guess from nothing
    os_family, os_major = fast.os_family, fast.os_major
    if os_family is None and found.os_name is not None:
        os_family, os_major = found.os_name, quick.major_of(found.os_version)
    browser, browser_major = fast.browser_family, fast.browser_major
    if browser is None and found.client_name is not None:
        browser, browser_major = found.client_name, quick.major_of(found.client_version)
    return Device(device_type or fast.device_type or DeviceType.UNKNOWN, os_family, os_major,
                  browser, browser_major, found.brand)  # fmt: skip


class Refiner(Protocol):
    """What a serving process installs (:class:`safehold.events.refine.Refiner`)."""

    def first_sight(self, user_agent: str, hints: Hints) -> Device: ...

    def prefetch(self, pairs: Sequence[tuple[str, Hints]]) -> int: ...


_refiner: Refiner | None = None


@functools.lru_cache(maxsize=DEVICE_CACHE_SIZE)
def _cell(user_agent: str | None, hints: Hints) -> list[Device | None]:  # noqa: ARG001 - the key
    """The LRU (functools', in C): one cell per pair, filled with the full answer once known;
    an empty cell is a pair still being refined."""
    return [None]


def remember(user_agent: str | None, hints: Hints, device: Device) -> None:
    """Keep a full answer in this process's LRU (the refiner's way in, too)."""
    _cell(user_agent, hints)[0] = device


def detect(user_agent: str | None, hints: Hints = NO_HINTS) -> Device:
    """The device of a User-Agent and its hints: from the LRU (about a microsecond), else
    parsed fully at once, or — in a serving process — the quick answer, refined later."""
    cell = _cell(user_agent, hints)
    found = cell[0]
    if found is not None:
        return found
    refiner = _refiner
    if refiner is not None and user_agent:
        return refiner.first_sight(user_agent, hints)
    device = detect_uncached(user_agent, hints)
    cell[0] = device
    return device


def prefetch(pairs: Iterable[tuple[str | None, Hints]]) -> None:
    """Before a batch's look-ups: let the refiner (if any) fill the LRU with the full answers
    its persistent parse cache holds for the pairs not in it yet, in one query."""
    refiner = _refiner
    if refiner is None:
        return
    unseen = [(ua, hints) for ua, hints in pairs if ua and _cell(ua, hints)[0] is None]
    if unseen:
        refiner.prefetch(unseen)


def install(refiner: Refiner | None) -> None:
    """Route first sights to ``refiner`` (None: parse them fully at once again)."""
    global _refiner  # one detector per process, like its LRU
    _refiner = refiner


def cache_clear() -> None:
    _cell.cache_clear()
