"""matomo's device detector (the ``device-detector`` package): device type, brand and bots.

It is the slow part of detection — tens of milliseconds for a string it has not seen — so it
never runs on the request path of a serving process (:mod:`safehold.events.refine`).

matomo files TV sets and set-top boxes alike as ``tv``; Safehold tells them apart, because
an IPTV service supports them differently: a ``tv`` device whose model says box, stick,
dongle or receiver, or whose maker makes only such players, is a set-top box; any other is
a TV set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.metadata import version

from device_detector import DeviceDetector  # type: ignore[import-untyped]

PARSER = f"device-detector {version('device-detector')}"

# matomo's device types → Safehold's (the values of devices.DeviceType).
TYPES = {
    "desktop": "desktop",
    "smartphone": "smartphone",
    "phablet": "smartphone",
    "tablet": "tablet",
    "feature phone": "feature_phone",
    "console": "console",
    "tv": "smart_tv",  # or set_top_box, see _tv
    "car browser": "car",
    "smart display": "smart_display",
    "camera": "camera",
    "portable media player": "media_player",
    "smart speaker": "smart_speaker",
    "wearable": "wearable",
    "peripheral": "peripheral",
}
# Makers whose ``tv`` devices are players, never TV sets.
BOX_MAKERS = frozenset(
    {
        "amazon", "apple", "google", "nvidia", "roku", "infomir", "formuler", "dune hd",
        "zidoo", "mecool", "ugoos", "minix", "beelink", "tanix", "vontar", "buzztv",
        "dreamlink", "dream multimedia", "vu+", "zgemma", "kaon", "arris", "sagemcom",
        "technicolor", "humax", "kodak", "dish", "directv", "x96", "h96", "magicsee",
    }
)  # fmt: skip
BOX_MODEL = re.compile(
    r"box|stick|cube|dongle|\bstb\b|receiver|player|chromecast|shield|apple ?tv|fire ?tv"
    r"|soundbar|streamer|streaming|\bmag ?\d{3}\b|digital video|\bdvp\b|\bsat\b",
    re.IGNORECASE,
)
_NO_BRAND = frozenset({"", "unknown", "generic"})


@dataclass(frozen=True)
class Found:
    device_type: str | None  # Safehold's value, None: matomo does not know
    brand: str | None  # the device maker
    is_bot: bool
    os_name: str | None
    os_version: str | None
    client_name: str | None
    client_version: str | None


def _tv(brand: str | None, model: str) -> str:
    if BOX_MODEL.search(model) or (brand or "").lower() in BOX_MAKERS:
        return "set_top_box"
    return "smart_tv"


def _text(value: object) -> str | None:
    text = str(value or "").strip()
    return text if text and text.lower() not in _NO_BRAND else None


def parse(user_agent: str, headers: dict[str, str] | None = None) -> Found:
    """One full parse (10 to 60 ms on a string the detector has not seen)."""
    found = DeviceDetector(user_agent, headers=headers or None).parse()
    if found.is_bot():
        return Found("bot", None, True, None, None, None, None)
    brand = _text(found.device_brand())
    kind = TYPES.get(str(found.device_type() or ""))
    if kind == "smart_tv":
        kind = _tv(brand, str(found.device_model() or ""))
    return Found(
        kind,
        brand,
        False,
        _text(found.os_name()),
        _text(found.os_version()),
        _text(found.client_name()),
        _text(found.client_version()),
    )
