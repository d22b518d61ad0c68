"""The hand-written IPTV layer: what the maintained libraries do not name.

``ua-parser`` and matomo's ``device-detector`` know browsers, operating systems and device
models; the player apps an IPTV service's customers use mostly send User-Agents of their own
that the libraries file as "Other", as a generic app or as the WebView they run in. Each
entry below names one such player (its family and the major version when the string carries
one) and has its own test in tests/unit/events/test_iptv.py. Nothing else is hand-written:
device types, brands and bots come from device-detector, OS and browser families from
ua-parser.

Patterns match the lower-cased User-Agent. First match wins, so a specific app comes before
the library it is built on (TiviMate before ExoPlayer).
"""

from __future__ import annotations

import re


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern.lower())


# (pattern with an optional major-version group, app family). First match wins.
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
        (r"stbapp ver: (\d+)", "MAG portal"),  # Infomir MAG boxes' portal browser
        (r"Enigma2", "Enigma2"),  # Linux satellite/IPTV receivers' web interface
        (r"\bVLC/(\d+)|LibVLC/(\d+)", "VLC"),
        (r"ExoPlayer(?:Lib)?/(\d+)", "ExoPlayer"),
        (r"^Lavf/(\d+)", "Lavf"),  # FFmpeg's HTTP client (many players stream with it)
        # The platforms' own media stacks, which apps without a name of their own use:
        (r"^AppleCoreMedia/(\d+)", "AppleCoreMedia"),
        (r"^Dalvik/(\d+)", "Android app"),
        (r"^okhttp/(\d+)", "OkHttp"),
    )
)

# Player strings that say only which box they run on, in no form device-detector reads:
# (pattern, device type value). Kept to tokens anchored as whole words.
BOXES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (_rx(pattern), device_type)
    for pattern, device_type in (
        (r"\bmag ?\d{3}\b.*stbapp|stbapp.*\bmag ?\d{3}\b", "set_top_box"),
        (r"\benigma2\b", "set_top_box"),
        # Generic Android TV boxes, by the model in Android's "; MODEL Build/" slot only (a
        # bare "x96" would match screen sizes such as "640x960").
        (r";\s*(?:x96|h96|t95|mxq|tx[3-9]|a95x)\b[\w +-]*\sbuild/", "set_top_box"),
    )
)


def app(low: str) -> tuple[str, str | None] | None:
    """The player app named in a lower-cased User-Agent and its major version, if any."""
    for pattern, family in APPS:
        match = pattern.search(low)
        if match:
            return family, next((g for g in match.groups() if g), None)
    return None


def box(low: str) -> str | None:
    """The device type an IPTV box's own string says, if it says one."""
    for pattern, device_type in BOXES:
        if pattern.search(low):
            return device_type
    return None
