"""The quick parse: ``ua-parser`` and the client hints, tens of microseconds a string.

It names the OS and the browser or app (``ua-parser``, with the IPTV layer's player apps
first), corrected by the client hints, and guesses the device type only where the string
leaves no doubt (an iPhone, a desktop OS, a MAG portal, a ``Sec-CH-UA-Mobile`` answer, a
spider ``ua-parser`` knows). Everything else about the device is matomo's
(:mod:`safehold.events.matomo`), which a serving process asks off the request path.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import NamedTuple

from http_sfv.item import Item as SfItem
from http_sfv.list import List as SfList
from ua_parser import Parser, Result, load_lazy_builtins
from ua_parser.regex import Resolver

from safehold.events import iptv


class Hints(NamedTuple):
    """The client hint headers as sent (structured-field text), any of them missing. A
    named tuple: it is half of every cache look-up's key, and a tuple hashes in C."""

    ua: str | None = None  # Sec-CH-UA
    mobile: str | None = None  # Sec-CH-UA-Mobile
    platform: str | None = None  # Sec-CH-UA-Platform
    platform_version: str | None = None  # Sec-CH-UA-Platform-Version
    model: str | None = None  # Sec-CH-UA-Model

    def headers(self) -> dict[str, str]:
        """The hints as HTTP headers (what matomo's detector reads)."""
        named = (
            ("Sec-CH-UA", self.ua), ("Sec-CH-UA-Mobile", self.mobile),
            ("Sec-CH-UA-Platform", self.platform),
            ("Sec-CH-UA-Platform-Version", self.platform_version),
            ("Sec-CH-UA-Model", self.model),
        )  # fmt: skip
        return {name: value for name, value in named if value}


NO_HINTS = Hints()


@dataclass(frozen=True, slots=True)
class Quick:
    """What the quick parse found; ``device_type`` None where only matomo can tell."""

    device_type: str | None
    os_family: str | None
    os_major: str | None
    browser_family: str | None
    browser_major: str | None


def _rx(pattern: str) -> re.Pattern[str]:
    """Patterns match the lower-cased User-Agent (faster than re.IGNORECASE)."""
    return re.compile(pattern.lower())


# ua-parser's names → one coarse name per OS or browser family.
OS_NAMES = {
    "Mac OS X": "macOS",
    "ATV OS X": "tvOS",
    "Web0S": "webOS",
    "Chromecast Linux": "Chromecast",
    "Chrome OS": "ChromeOS",
    "Roku": "Roku OS",
    "Ubuntu": "Linux",
    "Fedora": "Linux",
    "Debian": "Linux",
}
BROWSER_NAMES = {
    "Chrome Mobile": "Chrome",
    "Chrome Mobile iOS": "Chrome",
    "Chrome Mobile WebView": "Android WebView",
    "Mobile Safari": "Safari",
    "Mobile Safari UI/WKWebView": "iOS WebView",
    "Firefox Mobile": "Firefox",
    "Firefox iOS": "Firefox",
    "Edge Mobile": "Edge",
    "Amazon Silk": "Silk",
    "Opera Mobile": "Opera",
    "Android": "Android Browser",  # the stock browser, not the OS
}
NOT_BROWSERS = frozenset({"Other", "Apple Mail"})  # ua-parser's fallbacks
# OS families ua-parser does not know, from tokens: (pattern with optional major, family).
EXTRA_OS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (_rx(pattern), family)
    for pattern, family in (
        (r"xbox", "Xbox"),
        (r"playstation (\d+)", "PlayStation"),
        (r"nintendo switch", "Nintendo"),
        (r"netcast", "NetCast"),
        (r"vidaa (\d+)", "VIDAA"),
        (r"andr0id (\d+)", "Android"),
        (r"^roku", "Roku OS"),
        (r"\bwebos\b", "webOS"),
        (r"enigma2", "Linux"),
    )
)
BRANDS = {
    "google chrome": "Chrome",
    "microsoft edge": "Edge",
    "opera": "Opera",
    "brave": "Brave",
    "samsung internet": "Samsung Internet",
    "yabrowser": "Yandex",
    "vivaldi": "Vivaldi",
    "android webview": "Android WebView",
}
GREASE = _rx(r"not.?a.?brand")
_MAJOR = re.compile(r"^\d{1,8}")


@functools.cache
def _parser() -> Parser:
    """The Rust-backed resolver, built once (no cache of its own: :func:`detect` caches)."""
    return Parser(Resolver(load_lazy_builtins()))


def major_of(version: str | None) -> str | None:
    match = _MAJOR.match(version or "")
    return match.group() if match else None


def _sf_value(raw: str | None) -> object:
    """The bare value of a structured-field item (RFC 8941), or None if it does not parse."""
    if not raw:
        return None
    item = SfItem()
    try:
        item.parse(raw.encode("latin-1"))
    except (ValueError, UnicodeEncodeError):
        return None
    return item.value


def _sf_string(raw: str | None) -> str | None:
    value = _sf_value(raw)
    return value if isinstance(value, str) else None


def _sf_bool(raw: str | None) -> bool | None:
    value = _sf_value(raw)
    return value if isinstance(value, bool) else None


def _brand(raw: str | None) -> tuple[str, str | None] | None:
    """The most specific real brand in ``Sec-CH-UA`` (GREASE and plain Chromium last)."""
    if not raw:
        return None
    brands = SfList()
    try:
        brands.parse(raw.encode("latin-1"))
    except (ValueError, UnicodeEncodeError):
        return None
    found: list[tuple[str, str | None]] = []
    for entry in brands:
        name = getattr(entry, "value", None)
        if not isinstance(name, str) or GREASE.search(name):
            continue
        version = entry.params.get("v") if hasattr(entry, "params") else None
        found.append((name, major_of(version if isinstance(version, str) else None)))
    specific = [b for b in found if b[0].lower() in BRANDS]
    if specific:
        name, major = specific[0]
        return BRANDS[name.lower()], major
    chromium = [b for b in found if b[0] == "Chromium"]
    return ("Chromium", chromium[0][1]) if chromium else None


def _windows_major(platform_version: str) -> str | None:
    """Microsoft's mapping: 13 and up is Windows 11, 1 to 10 Windows 10, 0.1/0.2/0.3 are 7/8/8.1."""
    parts = platform_version.split(".")
    if not parts[0].isdigit():
        return None
    major = int(parts[0])
    if major >= 13:
        return "11"
    if major >= 1:
        return "10"
    minor = parts[1] if len(parts) > 1 else ""
    return {"1": "7", "2": "8", "3": "8"}.get(minor)


def _os(result: Result, low: str, hints: Hints) -> tuple[str | None, str | None]:
    family = result.os.family if result.os and result.os.family != "Other" else None
    major = major_of(result.os.major) if result.os else None
    if family in (None, "Linux", "Windows"):
        for pattern, name in EXTRA_OS:
            match = pattern.search(low)
            if match:
                family, major = name, match.group(1) if match.groups() else None
                break
    if family is not None:
        family = OS_NAMES.get(family, family)
    if family == "iOS" and "ipad" in low and major and int(major) >= 13:
        family = "iPadOS"
    platform = _sf_string(hints.platform)
    version = _sf_string(hints.platform_version)
    if platform:
        platform = {"macOS": "macOS", "Chrome OS": "ChromeOS"}.get(platform, platform)
        if family is None or family == platform:
            family = platform
    if version and family == platform:
        if family == "Windows":
            major = _windows_major(version) or major
        elif family in ("Android", "macOS", "iOS", "ChromeOS", "Linux"):
            major = major_of(version) or major
    return family, major


def _browser(result: Result, low: str, hints: Hints) -> tuple[str | None, str | None]:
    player = iptv.app(low)
    if player is not None:
        return player
    agent = result.user_agent
    family: str | None = agent.family if agent else None
    major = major_of(agent.major) if agent else None
    if family in NOT_BROWSERS:
        family, major = None, None
    if family is not None:
        family = BROWSER_NAMES.get(family, family)
    branded = _brand(hints.ua)
    if branded and (family in (None, "Chrome", "Chromium") or branded[0] != "Chromium"):
        family, major = branded[0], branded[1] or major
    return family, major


# Device types the quick parse may give: only where the string leaves no doubt.
_APPLE = {"iPhone": "smartphone", "iPod": "media_player", "iPad": "tablet", "Mac": "desktop"}
_DESKTOP_OS = frozenset({"Windows", "macOS", "ChromeOS"})
_TV_OS = frozenset({"Tizen", "webOS", "NetCast", "VIDAA"})  # only TV sets run these here
_TV = _rx(r"smart-?tv|hbbtv|\btv safari\b")
_X11 = _rx(r"\bx11\b")


def _device_type(result: Result, low: str, hints: Hints, os_family: str | None) -> str | None:
    family = result.device.family if result.device else None
    if family == "Spider":
        return "bot"
    if family in _APPLE:
        return _APPLE[family]
    box = iptv.box(low)
    if box is not None:
        return box
    mobile = _sf_bool(hints.mobile)
    if mobile is True:
        return "smartphone"
    if (os_family in _DESKTOP_OS and "xbox" not in low) or _X11.search(low):
        return "desktop"
    if os_family in _TV_OS or _TV.search(low):
        return "smart_tv"
    return None


def parse(user_agent: str, hints: Hints = NO_HINTS) -> Quick:
    """The quick parse of one User-Agent and its hints (tens of microseconds)."""
    result = _parser().parse(user_agent)
    low = user_agent.lower()
    os_family, os_major = _os(result, low, hints)
    browser_family, browser_major = _browser(result, low, hints)
    device_type = _device_type(result, low, hints, os_family)
    return Quick(device_type, os_family, os_major, browser_family, browser_major)
