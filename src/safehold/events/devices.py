"""Server-side device detection: a User-Agent and the client hints in, coarse fields out.

``ua-parser`` (with its Rust-backed resolver, ``ua-parser[regex]``) finds the OS, browser and
device families and versions. The structured client hints (``Sec-CH-UA``, ``-Mobile``,
``-Platform``, ``-Platform-Version``, ``-Model``), parsed with ``http-sfv``, correct what
reduced User-Agent strings hide: Windows 11 behind "Windows NT 10.0", the real Android
version and model behind "Android 10; K", the browser brand behind "Chrome". Then an ordered
rule table, which knows the IPTV world, names the device type.

Only coarse fields leave this module (type, OS family and major version, browser or app
family and major version); the User-Agent itself is never stored. Results are cached by
(User-Agent, hints), so the hot path is a dictionary look-up. The accuracy table of real
User-Agent shapes is tests/unit/events/test_devices.py, summarised in docs/events.md.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from enum import StrEnum

from http_sfv.item import Item as SfItem
from http_sfv.list import List as SfList
from ua_parser import Parser, Result, load_lazy_builtins
from ua_parser.regex import Resolver

DEVICE_CACHE_SIZE = 10_000  # distinct (User-Agent, hints) pairs kept parsed


class DeviceType(StrEnum):
    SMARTPHONE = "smartphone"
    TABLET = "tablet"
    DESKTOP = "desktop"
    SMART_TV = "smart_tv"
    SET_TOP_BOX = "set_top_box"  # also streaming sticks and media players
    CONSOLE = "console"
    BOT = "bot"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Hints:
    """The client hint headers as sent (structured-field text), any of them missing."""

    ua: str | None = None  # Sec-CH-UA
    mobile: str | None = None  # Sec-CH-UA-Mobile
    platform: str | None = None  # Sec-CH-UA-Platform
    platform_version: str | None = None  # Sec-CH-UA-Platform-Version
    model: str | None = None  # Sec-CH-UA-Model


NO_HINTS = Hints()


@dataclass(frozen=True)
class Device:
    """What is kept about a device: coarse fields only."""

    device_type: str
    os_family: str | None = None
    os_major: str | None = None
    browser_family: str | None = None
    browser_major: str | None = None

    @property
    def is_bot(self) -> bool:
        return self.device_type == DeviceType.BOT

    @property
    def fingerprint(self) -> str:
        """Identifies the coarse tuple, to count one person's device once."""
        text = "\x1f".join(str(v or "") for v in self._fields())
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def _fields(self) -> tuple[str | None, ...]:
        return (
            self.device_type,
            self.os_family,
            self.os_major,
            self.browser_family,
            self.browser_major,
        )


def _rx(pattern: str) -> re.Pattern[str]:
    """Patterns match the lower-cased User-Agent (faster than re.IGNORECASE)."""
    return re.compile(pattern.lower())


# Apps and players: (pattern with an optional major-version group, family). First match wins.
APPS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (_rx(pattern), family)
    for pattern, family in (
        (r"^Kodi/(\d+)", "Kodi"),
        (r"TiviMate/(\d+)", "TiviMate"),
        (r"IPTV ?Smarters[ A-Za-z]*(?:/(\d+))?", "IPTV Smarters"),
        (r"GSE SMART IPTV(?:/(\d+))?", "GSE Smart IPTV"),
        (r"Perfect ?Player(?:/(\d+))?", "Perfect Player"),
        (r"OTT ?Navigator(?:/(\d+))?", "OTT Navigator"),
        (r"Televizo(?:/(\d+))?", "Televizo"),
        (r"XCIPTV(?:/(\d+))?", "XCIPTV"),
        (r"Smart ?IPTV(?:/(\d+))?", "Smart IPTV"),
        (r"SS ?IPTV(?:/(\d+))?", "SS IPTV"),
        (r"stbapp ver: (\d+)", "MAG portal"),
        (r"Enigma2", "Enigma2"),
        (r"\bVLC/(\d+)|LibVLC/(\d+)", "VLC"),
        (r"ExoPlayer(?:Lib)?/(\d+)", "ExoPlayer"),
        (r"^Lavf/(\d+)", "Lavf"),
        (r"^AppleCoreMedia/(\d+)", "AppleCoreMedia"),
        (r"^Dalvik/(\d+)", "Android app"),
        (r"^okhttp/(\d+)", "OkHttp"),
    )
)

BOTS = _rx(
    r"bot\b|crawler|spider|slurp|facebookexternalhit|headlesschrome|phantomjs|\bcurl/|\bwget/"
    r"|python-requests|python-urllib|aiohttp|go-http-client|java/\d|libwww|scrapy"
    r"|apache-httpclient|axios/|node-fetch|postmanruntime|uptimerobot|pingdom"
)

# The device-type rule table: (pattern over the User-Agent and model hint, type), in order.
# TV makers before boxes (a Sony BRAVIA runs Android TV but is a television), boxes before
# HbbTV (Enigma2 receivers speak HbbTV too), then tablets before phones before desktops.
TYPE_RULES: tuple[tuple[re.Pattern[str], DeviceType], ...] = tuple(
    (_rx(pattern), device_type)
    for pattern, device_type in (
        (r"playstation|xbox|nintendo", DeviceType.CONSOLE),
        (r"smart-?tv|tizen|web0s|webos|netcast|vidaa|hisense|bravia|philips|viera|aquos"
         r"|\bmitv\b|mitv-|lg browser|\bnettv\b|opera tv|operatv", DeviceType.SMART_TV),
        (r"\bmag ?\d{3}\b|stbapp|infomir|enigma2|formuler|dreamlink|buzztv|zgemma|vu\+"
         r"|dreambox|roku|apple ?tv|tvos|\baft[a-z0-9]*\b|fire ?tv|crkey|chromecast|shield"
         r"|mibox|mi box|mi tv stick|android ?tv|google ?tv|\bstb\b|tv ?box|x96|h96|t95"
         r"|\bmxq\b", DeviceType.SET_TOP_BOX),
        (r"hbbtv|\btv safari\b", DeviceType.SMART_TV),
        (r"ipad|tablet|kindle|\bsilk/|playbook|\bsm-[tpx]\d|nexus (?:7|9|10)\b|lenovo tb"
         r"|mediapad|xoom", DeviceType.TABLET),
        (r"iphone|ipod|windows phone|blackberry|opera mini|\bmobi|android.*mobile|\bsm-[gansf]\d"
         r"|pixel \d|redmi|oneplus", DeviceType.SMARTPHONE),
        (r"windows nt|macintosh|mac os x|\bx11\b|\bcros\b|linux x86_64|linux i686",
         DeviceType.DESKTOP),
        (r"^mozilla/.*android", DeviceType.TABLET),  # Chrome's reduced UA drops "Mobile"
    )
)  # fmt: skip

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
}
NOT_BROWSERS = frozenset({"Other", "Apple Mail", "Android"})  # ua-parser's fallbacks
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


def _major(version: str | None) -> str | None:
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
        found.append((name, _major(version if isinstance(version, str) else None)))
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
    major = _major(result.os.major) if result.os else None
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
            major = _major(version) or major
    return family, major


def _browser(result: Result, low: str, hints: Hints) -> tuple[str | None, str | None]:
    for pattern, app in APPS:
        match = pattern.search(low)
        if match:
            version = next((g for g in match.groups() if g), None)
            return app, version
    agent = result.user_agent
    family: str | None = agent.family if agent else None
    major = _major(agent.major) if agent else None
    if family in NOT_BROWSERS:
        family, major = None, None
    if family is not None:
        family = BROWSER_NAMES.get(family, family)
    branded = _brand(hints.ua)
    if branded and (family in (None, "Chrome", "Chromium") or branded[0] != "Chromium"):
        family, major = branded[0], branded[1] or major
    return family, major


def _device_type(result: Result, low: str, hints: Hints, os_family: str | None) -> DeviceType:
    if (result.device and result.device.family == "Spider") or BOTS.search(low):
        return DeviceType.BOT
    text = f"{low} {(_sf_string(hints.model) or '').lower()}"
    found = DeviceType.UNKNOWN
    for pattern, device_type in TYPE_RULES:
        if pattern.search(text):
            found = device_type
            break
    mobile = _sf_bool(hints.mobile)
    if found in (DeviceType.SMARTPHONE, DeviceType.TABLET, DeviceType.UNKNOWN):
        if mobile is True:
            return DeviceType.SMARTPHONE
        if mobile is False and os_family == "Android":
            return DeviceType.TABLET
    if found is DeviceType.UNKNOWN and os_family in ("Windows", "macOS", "ChromeOS"):
        return DeviceType.DESKTOP
    return found


def detect_uncached(user_agent: str | None, hints: Hints = NO_HINTS) -> Device:
    """Parse one User-Agent and its hints into coarse fields (tens of microseconds)."""
    ua = (user_agent or "").strip()
    if not ua and hints == NO_HINTS:
        return Device(DeviceType.UNKNOWN)
    result = _parser().parse(ua)
    low = ua.lower()
    os_family, os_major = _os(result, low, hints)
    browser_family, browser_major = _browser(result, low, hints)
    device_type = _device_type(result, low, hints, os_family)
    return Device(device_type, os_family, os_major, browser_family, browser_major)


@functools.lru_cache(maxsize=DEVICE_CACHE_SIZE)
def detect(user_agent: str | None, hints: Hints = NO_HINTS) -> Device:
    """:func:`detect_uncached`, remembered: the same few hundred strings come again and again."""
    return detect_uncached(user_agent, hints)
