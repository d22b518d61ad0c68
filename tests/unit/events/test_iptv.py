"""The hand-written IPTV layer, entry by entry, and the false-positive classes issue 19 found
in the old rule table (each now answered by matomo's detector, checked here end to end)."""

from __future__ import annotations

import pytest

from safehold.events import iptv
from safehold.events.devices import detect_uncached

# One real-shaped User-Agent per app entry: (family, major) it must name.
APPS = {
    "Kodi": ("Kodi/20.2 (Linux; Android 11.0; SHIELD Android TV Build/RQ1A)", "20"),
    "TiviMate": ("TiviMate/4.7.0 (Android 11; MIBOX4 Build/RP1A)", "4"),
    "IPTV Smarters": ("IPTV Smarters Pro/3.1.5 (Linux; Android 9; X96 Max Build/PPR1)", "3"),
    "GSE Smart IPTV": ("GSE SMART IPTV/7.4 (iPhone; iOS 16.5)", "7"),
    "Perfect Player": ("PerfectPlayer/1.6.0.1 (Linux;Android 9)", "1"),
    "OTT Navigator": ("OTT Navigator/1.6.9.4 (Linux;Android 9; AFTKA)", "1"),
    "Televizo": ("Televizo/1.9.3.14 (Linux;Android 10)", "1"),
    "XCIPTV": ("XCIPTV/5.0.1 (Linux; Android 9; X96 Max Build/PPR1)", "5"),
    "Smart IPTV": ("SmartIPTV/1.0 (webOS)", "1"),
    "SS IPTV": ("SS IPTV/2.1 (Linux; Tizen 4.0)", "2"),
    "MAG portal": ("Mozilla/5.0 (QtEmbedded; U; Linux; C) AppleWebKit/533.3 (KHTML, like Gecko) "
                   "MAG250 stbapp ver: 4 rev: 2721 Mobile Safari/533.3", "4"),
    "Enigma2": ("Enigma2 HbbTV/1.1.1 (+PVR+RTSP+DL;OpenPLi;;;)", None),
    "VLC": ("VLC/3.0.20 LibVLC/3.0.20", "3"),
    "ExoPlayer": ("ExoPlayerLib/2.18.7 (Linux; Android 11)", "2"),
    "Lavf": ("Lavf/58.76.100", "58"),
    "AppleCoreMedia": ("AppleCoreMedia/1.0.0.21E236 (iPhone; U; CPU OS 17_4 like Mac OS X)", "1"),
    "Android app": ("Dalvik/2.1.0 (Linux; U; Android 11; SM-G991B Build/RP1A.200720.012)", "2"),
    "OkHttp": ("okhttp/4.12.0", "4"),
}  # fmt: skip
BOXES = {
    "MAG": APPS["MAG portal"][0],
    "Enigma2": APPS["Enigma2"][0],
    "X96 in the model slot": "Mozilla/5.0 (Linux; Android 9; X96 Max Build/PPR1; wv) "
    "AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/110.0 Safari/537.36",
}


def test_every_app_entry_has_its_case() -> None:
    assert {family for _, family in iptv.APPS} == set(APPS)


@pytest.mark.parametrize("family", APPS)
def test_each_app_is_named(family: str) -> None:
    ua, major = APPS[family]
    assert iptv.app(ua.lower()) == (family, major)
    assert detect_uncached(ua).browser_family == family


def test_every_box_entry_has_its_case() -> None:
    matched = {p.pattern for p, _ in iptv.BOXES for ua in BOXES.values() if p.search(ua.lower())}
    assert matched == {p.pattern for p, _ in iptv.BOXES}


@pytest.mark.parametrize("name", BOXES)
def test_each_box_is_a_box(name: str) -> None:
    assert iptv.box(BOXES[name].lower()) == "set_top_box"
    assert detect_uncached(BOXES[name]).device_type == "set_top_box"


# --- the old rule table's false positives ---------------------------------------------------


def test_a_screen_size_is_no_box_model() -> None:
    ua = ("Mozilla/5.0 (Linux; Android 12; SM-A125F) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/110.0 Mobile Safari/537.36 640x960")  # fmt: skip
    assert iptv.box(ua.lower()) is None
    assert detect_uncached(ua).device_type == "smartphone"


@pytest.mark.parametrize(
    ("ua", "brand"),
    [
        ("Mozilla/5.0 (Linux; Android 10; HLTE202N) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/96.0.4664.92 Mobile Safari/537.36", "Hisense"),
        ("Mozilla/5.0 (Linux; Android 9; Philips S561) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/90.0 Mobile Safari/537.36", "Philips"),
        ("Mozilla/5.0 (Linux; Android 11; SH-51B) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/110.0 Mobile Safari/537.36", "Sharp"),
    ],
)  # fmt: skip
def test_phones_by_tv_makers_are_phones(ua: str, brand: str) -> None:
    found = detect_uncached(ua)
    assert (found.device_type, found.brand) == ("smartphone", brand)


def test_a_tizen_watch_is_no_tv() -> None:
    ua = ("Mozilla/5.0 (Linux; Tizen 5.5; SAMSUNG SM-R820) AppleWebKit/537.36 (KHTML, like "
          "Gecko) SamsungBrowser/1.0 Chrome/69.0.3497.106 Mobile Safari/537.36")  # fmt: skip
    assert detect_uncached(ua).device_type == "wearable"


def test_a_tv_webview_saying_mobile_safari_is_no_phone() -> None:
    ua = ("Mozilla/5.0 (Linux; Android 9; SHIELD Android TV Build/PPR1.180610.011; wv) "
          "AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/110.0 "
          "Mobile Safari/537.36")  # fmt: skip
    assert detect_uncached(ua).device_type == "set_top_box"


def test_the_stock_android_browser_is_a_browser() -> None:
    ua = ("Mozilla/5.0 (Linux; U; Android 4.4.2; en-us; GT-I9505 Build/KOT49H) AppleWebKit/534.30 "
          "(KHTML, like Gecko) Version/4.0 Mobile Safari/534.30")  # fmt: skip
    assert detect_uncached(ua).browser_family == "Android Browser"


@pytest.mark.parametrize(
    "ua",
    ["Mozilla/5.0 (compatible; AhrefsSiteAudit/6.1; +http://ahrefs.com/robot/)",
     "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"],
)  # fmt: skip
def test_bots_without_bot_in_their_name(ua: str) -> None:
    assert detect_uncached(ua).is_bot
