"""The device-detection accuracy table: real-world User-Agent shapes (browsers, phones,
tablets, smart TVs, set-top boxes and streaming sticks, consoles, IPTV players, bots), with
and without client hints, and the coarse fields Safehold must derive from each.

docs/events.md summarises this table; a row added here is a shape Safehold now knows.
"""

from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

import pytest

from safehold.events import devices
from safehold.events.devices import Device, DeviceType, Hints, detect, detect_uncached

T = DeviceType
CHROME_HINTS = '"Chromium";v="124", "Google Chrome";v="124", "Not-A.Brand";v="99"'


class Shape(NamedTuple):
    ua: str
    expected: Device
    hints: Hints = Hints()


TABLE: dict[str, Shape] = {
    # --- desktops and laptops -------------------------------------------------------------
    "Chrome on Windows (reduced UA)": Shape(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
        Device(T.DESKTOP, "Windows", "10", "Chrome", "124"),
    ),
    "Chrome on Windows 11, told by the platform-version hint": Shape(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
        Device(T.DESKTOP, "Windows", "11", "Chrome", "124"),
        Hints(ua=CHROME_HINTS, mobile="?0", platform='"Windows"', platform_version='"15.0.0"'),
    ),
    "Edge on Windows 10 (hint 10.0.0)": Shape(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.51",
        Device(T.DESKTOP, "Windows", "10", "Edge", "124"),
        Hints(
            ua='"Chromium";v="124", "Microsoft Edge";v="124", "Not-A.Brand";v="99"',
            platform='"Windows"',
            platform_version='"10.0.0"',
        ),
    ),
    "Chrome on Windows 8.1 (hint 0.3.0)": Shape(
        "Mozilla/5.0 (Windows NT 6.3; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/109.0.0.0 Safari/537.36",
        Device(T.DESKTOP, "Windows", "8", "Chrome", "109"),
        Hints(platform='"Windows"', platform_version='"0.3.0"'),
    ),
    "Firefox on Windows": Shape(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
        Device(T.DESKTOP, "Windows", "10", "Firefox", "125"),
    ),
    "Safari on macOS (frozen 10_15_7)": Shape(
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Version/17.4 Safari/605.1.15",
        Device(T.DESKTOP, "macOS", "10", "Safari", "17"),
    ),
    "Chrome on macOS 14, told by the hint": Shape(
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like "
        "Gecko) Chrome/124.0.0.0 Safari/537.36",
        Device(T.DESKTOP, "macOS", "14", "Chrome", "124"),
        Hints(ua=CHROME_HINTS, platform='"macOS"', platform_version='"14.4.1"'),
    ),
    "Chrome on Linux": Shape(
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
        Device(T.DESKTOP, "Linux", None, "Chrome", "124"),
    ),
    "Firefox on Linux ARM": Shape(
        "Mozilla/5.0 (X11; Linux aarch64; rv:109.0) Gecko/20100101 Firefox/115.0",
        Device(T.DESKTOP, "Linux", None, "Firefox", "115"),
    ),
    "Chromebook": Shape(
        "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
        Device(T.DESKTOP, "ChromeOS", "14541", "Chrome", "124"),
    ),
    "Brave on Windows, told by the brand hint": Shape(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
        Device(T.DESKTOP, "Windows", "10", "Brave", "124"),
        Hints(ua='"Brave";v="124", "Chromium";v="124", "Not-A.Brand";v="99"'),
    ),
    "Kodi on Windows": Shape(
        "Kodi/19.4 (Windows NT 10.0.19044; Win64; x64) App_Bitness/64 "
        "Version/19.4-(19.4.0)-Git:20220302-a0ddd1e8f1",
        Device(T.DESKTOP, "Windows", "10", "Kodi", "19"),
    ),
    # --- phones ---------------------------------------------------------------------------
    "Safari on iPhone": Shape(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
        Device(T.SMARTPHONE, "iOS", "17", "Safari", "17"),
    ),
    "Chrome on iPhone": Shape(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1",
        Device(T.SMARTPHONE, "iOS", "17", "Chrome", "124"),
    ),
    "Chrome on Android (reduced UA: Android 10; K)": Shape(
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Mobile Safari/537.36",
        Device(T.SMARTPHONE, "Android", "10", "Chrome", "124"),
    ),
    "Chrome on Android 14, told by the hints": Shape(
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Mobile Safari/537.36",
        Device(T.SMARTPHONE, "Android", "14", "Chrome", "124"),
        Hints(
            ua=CHROME_HINTS,
            mobile="?1",
            platform='"Android"',
            platform_version='"14.0.0"',
            model='"Pixel 8"',
        ),
    ),
    "Samsung Internet on a Galaxy": Shape(
        "Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36",
        Device(T.SMARTPHONE, "Android", "14", "Samsung Internet", "24"),
    ),
    "Firefox on Android": Shape(
        "Mozilla/5.0 (Android 14; Mobile; rv:125.0) Gecko/125.0 Firefox/125.0",
        Device(T.SMARTPHONE, "Android", "14", "Firefox", "125"),
    ),
    "an Android app (Dalvik) on a Galaxy phone": Shape(
        "Dalvik/2.1.0 (Linux; U; Android 11; SM-G991B Build/RP1A.200720.012)",
        Device(T.SMARTPHONE, "Android", "11", "Android app", "2"),
    ),
    "GSE Smart IPTV on iPhone": Shape(
        "GSE SMART IPTV/7.4 (iPhone; iOS 16.5)",
        Device(T.SMARTPHONE, "iOS", "16", "GSE Smart IPTV", "7"),
    ),
    "iOS native player (AppleCoreMedia) on iPhone": Shape(
        "AppleCoreMedia/1.0.0.21E236 (iPhone; U; CPU OS 17_4 like Mac OS X; en_us)",
        Device(T.SMARTPHONE, "iOS", "17", "AppleCoreMedia", "1"),
    ),
    # --- tablets --------------------------------------------------------------------------
    "Safari on iPad": Shape(
        "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
        Device(T.TABLET, "iPadOS", "16", "Safari", "16"),
    ),
    "Chrome on an Android tablet (reduced UA, no Mobile)": Shape(
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
        Device(T.TABLET, "Android", "10", "Chrome", "124"),
    ),
    "Galaxy Tab, the model told by the hint": Shape(
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
        Device(T.TABLET, "Android", "13", "Chrome", "124"),
        Hints(
            ua=CHROME_HINTS,
            mobile="?0",
            platform='"Android"',
            platform_version='"13.0.0"',
            model='"SM-X700"',
        ),
    ),
    "Fire tablet (Silk)": Shape(
        "Mozilla/5.0 (Linux; Android 9; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Silk/122.4.1 like Chrome/122.0.6261.119 Safari/537.36",
        Device(T.TABLET, "Android", "9", "Silk", "122"),
    ),
    # --- smart TVs ------------------------------------------------------------------------
    "Samsung Tizen TV": Shape(
        "Mozilla/5.0 (SMART-TV; LINUX; Tizen 5.5) AppleWebKit/537.36 (KHTML, like Gecko) "
        "SamsungBrowser/3.0 Chrome/69.0.3497.106 TV Safari/537.36",
        Device(T.SMART_TV, "Tizen", "5", "Samsung Internet", "3"),
    ),
    "Samsung Tizen 2 TV": Shape(
        "Mozilla/5.0 (Linux; Tizen 2.3) AppleWebKit/538.1 (KHTML, like Gecko)Version/2.3 TV "
        "Safari/538.1",
        Device(T.SMART_TV, "Tizen", "2", "Safari", "2"),
    ),
    "LG webOS TV": Shape(
        "Mozilla/5.0 (Web0S; Linux/SmartTV) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/79.0.3945.79 Safari/537.36 WebAppManager",
        Device(T.SMART_TV, "webOS", None, "Chrome", "79"),
    ),
    "LG NetCast TV": Shape(
        "Mozilla/5.0 (Linux; NetCast; U) AppleWebKit/537.31 (KHTML, like Gecko) "
        "Chrome/26.0.1410.33 Safari/537.31 SmartTV/6.0",
        Device(T.SMART_TV, "NetCast", None, "Chrome", "26"),
    ),
    "Hisense VIDAA TV": Shape(
        "Mozilla/5.0 (Linux; VIDAA 5.0; Hisense SmartTV) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/79.0.3945.79 Safari/537.36",
        Device(T.SMART_TV, "VIDAA", "5", "Chrome", "79"),
    ),
    "Sony BRAVIA (Android TV)": Shape(
        "Mozilla/5.0 (Linux; Android 10; BRAVIA 4K VH2 Build/QTG3.200305.006.S292; wv) "
        "AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/91.0.4472.114 Mobile "
        "Safari/537.36",
        Device(T.SMART_TV, "Android", "10", "Android WebView", "91"),
    ),
    "Sony BRAVIA Opera TV (Andr0id)": Shape(
        "Mozilla/5.0 (Linux; Andr0id 9; BRAVIA 4K UR2 Build/PTT1.190515.001.S52) "
        "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/90.0.4430.225 Safari/537.36 "
        "OPR/46.0.2207.0 OMI/4.21.0.273.DIA6.149 Model/Sony-BRAVIA-4K-UR2",
        Device(T.SMART_TV, "Android", "9", "Opera", "46"),
    ),
    "Xiaomi Mi TV": Shape(
        "Mozilla/5.0 (Linux; U; Android 9; en-us; MiTV-MOOQ0 Build/PI) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Version/4.0 Chrome/71.0.3578.99 Mobile Safari/537.36",
        Device(T.SMART_TV, "Android", "9", "Android WebView", "71"),
    ),
    "Smart IPTV app on webOS": Shape(
        "SmartIPTV/1.0 (webOS)",
        Device(T.SMART_TV, "webOS", None, "Smart IPTV", "1"),
    ),
    # --- set-top boxes and streaming sticks -----------------------------------------------
    "Infomir MAG 250": Shape(
        "Mozilla/5.0 (QtEmbedded; U; Linux; C; Emulator/1.2.12) AppleWebKit/533.3 (KHTML, like "
        "Gecko) MAG250 stbapp ver: 4 rev: 2721 Mobile Safari/533.3",
        Device(T.SET_TOP_BOX, "Linux", None, "MAG portal", "4"),
    ),
    "Infomir MAG 200": Shape(
        "Mozilla/5.0 (QtEmbedded; U; Linux; C) AppleWebKit/533.3 (KHTML, like Gecko) MAG200 "
        "stbapp ver: 2 rev: 250 Safari/533.3",
        Device(T.SET_TOP_BOX, "Linux", None, "MAG portal", "2"),
    ),
    "Amazon Fire TV Stick (WebView)": Shape(
        "Mozilla/5.0 (Linux; Android 9; AFTMM Build/PS7633.3445N; wv) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Version/4.0 Chrome/108.0.5359.160 Mobile Safari/537.36",
        Device(T.SET_TOP_BOX, "Android", "9", "Android WebView", "108"),
    ),
    "Amazon Fire TV (Silk)": Shape(
        "Mozilla/5.0 (Linux; Android 7.1.2; AFTMM Build/NS6281) AppleWebKit/537.36 (KHTML, like "
        "Gecko) Silk/112.3.1 like Chrome/112.0.5615.213 Safari/537.36",
        Device(T.SET_TOP_BOX, "Android", "7", "Silk", "112"),
    ),
    "Roku": Shape(
        "Roku/DVP-12.0 (12.0.0.4182-88)",
        Device(T.SET_TOP_BOX, "Roku OS", "12", "Roku", "12"),
    ),
    "Roku (model token)": Shape(
        "Roku4640X/DVP-7.70 (297.70E04154A)",
        Device(T.SET_TOP_BOX, "Roku OS", None, "Roku4640X", None),
    ),
    "Apple TV": Shape(
        "AppleCoreMedia/1.0.0.21L569 (Apple TV; U; CPU OS 17_4 like Mac OS X; en_us)",
        Device(T.SET_TOP_BOX, "tvOS", None, "AppleCoreMedia", "1"),
    ),
    "Chromecast (Cast OS)": Shape(
        "Mozilla/5.0 (X11; Linux armv7l) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/88.0.4324.182 Safari/537.36 CrKey/1.56.500000",
        Device(T.SET_TOP_BOX, "Chromecast", "1", "Chrome", "88"),
    ),
    "Chromecast with Google TV": Shape(
        "Mozilla/5.0 (Linux; Android 12; Chromecast Build/STTE.230319.008.R3; wv) "
        "AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/114.0.5735.196 Mobile "
        "Safari/537.36",
        Device(T.SET_TOP_BOX, "Android", "12", "Android WebView", "114"),
    ),
    "NVIDIA SHIELD (WebView)": Shape(
        "Mozilla/5.0 (Linux; Android 11; SHIELD Android TV Build/RQ1A.210105.003; wv) "
        "AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.43 Mobile "
        "Safari/537.36",
        Device(T.SET_TOP_BOX, "Android", "11", "Android WebView", "120"),
    ),
    "Kodi on NVIDIA SHIELD": Shape(
        "Kodi/20.2 (Linux; Android 11.0; SHIELD Android TV Build/RQ1A.210105.003) "
        "Android/11.0.0 Sys_CPU/aarch64 App_Bitness/64 Version/20.2-(20.2.0)-Git:20230629",
        Device(T.SET_TOP_BOX, "Android", "11", "Kodi", "20"),
    ),
    "TiviMate on a Mi Box": Shape(
        "TiviMate/4.7.0 (Android 11; MIBOX4 Build/RP1A)",
        Device(T.SET_TOP_BOX, "Android", "11", "TiviMate", "4"),
    ),
    "an Android app (Dalvik) on a Mi Box": Shape(
        "Dalvik/2.1.0 (Linux; U; Android 9; MIBOX4 Build/PI)",
        Device(T.SET_TOP_BOX, "Android", "9", "Android app", "2"),
    ),
    "Formuler box": Shape(
        "Mozilla/5.0 (Linux; Android 9; Formuler Z8 Pro Build/PPR1) AppleWebKit/537.36",
        Device(T.SET_TOP_BOX, "Android", "9", "Android Browser", "9"),
    ),
    "Enigma2 receiver": Shape(
        "Enigma2 HbbTV/1.1.1 (+PVR+RTSP+DL;OpenPLi;;;)",
        Device(T.SET_TOP_BOX, "Linux", None, "Enigma2", None),
    ),
    # --- consoles -------------------------------------------------------------------------
    "PlayStation 5": Shape(
        "Mozilla/5.0 (PlayStation; PlayStation 5/2.26) AppleWebKit/605.1.15 (KHTML, like Gecko)",
        Device(T.CONSOLE, "PlayStation", "5", "NetFront", None),
    ),
    "Xbox One": Shape(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; Xbox; Xbox One) AppleWebKit/537.36 (KHTML, "
        "like Gecko) Chrome/70.0.3538.102 Safari/537.36 Edge/18.19041",
        Device(T.CONSOLE, "Xbox", None, "Edge", "18"),
    ),
    "Nintendo Switch": Shape(
        "Mozilla/5.0 (Nintendo Switch; WifiWebAuthApplet) AppleWebKit/606.4 (KHTML, like Gecko) "
        "NF/6.0.1.15.4 NintendoBrowser/5.1.0.20393",
        Device(T.CONSOLE, "Nintendo", None, "Nintendo Browser", "5"),
    ),
    # --- IPTV players whose platform the string does not say ------------------------------
    "VLC": Shape("VLC/3.0.20 LibVLC/3.0.20", Device(T.UNKNOWN, None, None, "VLC", "3")),
    "IPTV Smarters": Shape("IPTVSmartersPlayer", Device(T.UNKNOWN, None, None, "IPTV Smarters")),
    "ExoPlayer": Shape("ExoPlayerLib/2.18.7", Device(T.UNKNOWN, None, None, "ExoPlayer", "2")),
    "FFmpeg (libavformat)": Shape("Lavf/58.76.100", Device(T.UNKNOWN, None, None, "Lavf", "58")),
    "Perfect Player on Android": Shape(
        "PerfectPlayer/1.6.0.1 (Linux;Android 9)",
        Device(T.SMARTPHONE, "Android", "9", "Perfect Player", "1"),
    ),
    "OTT Navigator on Android": Shape(
        "OTT Navigator/1.6.9.4 (Linux;Android 11; en; 12f1p8k)",
        Device(T.SMARTPHONE, "Android", "11", "OTT Navigator", "1"),
    ),
    # --- bots (matomo's list): flagged, never counted as people; HTTP libraries and headless
    # browsers are no bots to matomo, so they are counted as what they run on --------------
    "Googlebot": Shape(
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        Device(T.BOT, None, None, "Googlebot", "2"),
    ),
    "Bingbot": Shape(
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        Device(T.BOT, None, None, "bingbot", "2"),
    ),
    "headless Chrome": Shape(
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "HeadlessChrome/124.0.0.0 Safari/537.36",
        Device(T.DESKTOP, "Linux", None, "HeadlessChrome", "124"),
    ),
    "curl": Shape("curl/8.4.0", Device(T.UNKNOWN, None, None, "curl", "8")),
    "python-requests": Shape(
        "python-requests/2.31.0", Device(T.UNKNOWN, None, None, "Python Requests", "2")
    ),
    # --- nothing to go on -----------------------------------------------------------------
    "no User-Agent": Shape("", Device(T.UNKNOWN)),
}


@pytest.mark.parametrize("name", TABLE)
def test_accuracy_table(name: str) -> None:
    shape = TABLE[name]
    assert replace(detect_uncached(shape.ua, shape.hints), brand=None) == shape.expected


def test_the_table_covers_every_device_type_and_the_iptv_world() -> None:
    types = {shape.expected.device_type for shape in TABLE.values()}
    assert types >= {T.SMARTPHONE, T.TABLET, T.DESKTOP, T.SMART_TV, T.SET_TOP_BOX, T.CONSOLE,
                     T.BOT, T.UNKNOWN}  # fmt: skip
    assert len(TABLE) >= 60
    boxes = [s for s in TABLE.values() if s.expected.device_type is T.SET_TOP_BOX]
    assert len(boxes) >= 12


def test_bots_are_flagged() -> None:
    assert detect_uncached(TABLE["Googlebot"].ua).is_bot
    assert not detect_uncached(TABLE["Roku"].ua).is_bot


def test_broken_hints_are_ignored_not_fatal() -> None:
    ua = TABLE["Chrome on Windows (reduced UA)"].ua
    broken = Hints(ua='"Chromium";v=', mobile="maybe", platform="Windows", platform_version="x")
    assert detect_uncached(ua, broken) == TABLE["Chrome on Windows (reduced UA)"].expected
    non_latin = Hints(platform='"Ŵindows"', model='"Pixel ☃"')
    assert detect_uncached(ua, non_latin).os_family == "Windows"  # read, not fatal


def test_grease_brands_are_never_the_browser() -> None:
    ua = TABLE["Chrome on Windows (reduced UA)"].ua
    only_grease = Hints(ua='"Not?A_Brand";v="8", " Not;A Brand";v="99"')
    assert detect_uncached(ua, only_grease).browser_family == "Chrome"
    # Google Chrome names itself beside Chromium; Chromium alone is the open-source browser.
    chromium = Hints(ua='"Chromium";v="125", "Not?A_Brand";v="8"')
    assert detect_uncached(ua, chromium) == Device(T.DESKTOP, "Windows", "10", "Chromium", "125")


def test_results_are_cached_by_user_agent_and_hints() -> None:
    devices.cache_clear()
    ua = TABLE["Samsung Tizen TV"].ua
    first = detect(ua)
    assert detect(ua) is first  # the LRU's answer
    assert detect(ua, Hints(mobile="?0")) is not first  # other hints, another entry
    for n in range(devices.DEVICE_CACHE_SIZE):
        devices.remember(f"Example/{n}", Hints(), first)
    assert detect(ua) is not first  # evicted, parsed again: the LRU is bounded


def test_the_fingerprint_identifies_the_coarse_tuple_only() -> None:
    tv = TABLE["LG webOS TV"].expected
    assert tv.fingerprint == Device(T.SMART_TV, "webOS", None, "Chrome", "79").fingerprint
    assert tv.fingerprint != Device(T.SMART_TV, "webOS", None, "Chrome", "80").fingerprint
    assert len(tv.fingerprint) == 32
