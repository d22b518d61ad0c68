"""Scoring device detection on the public corpora in ../shared/corpora (README there):
matomo's device-detector fixtures and ua-parser's uap-core tests. Used by bench/devices.py
and by the corpus test tier (tests/corpus). Three detectors side by side, on the same cases:
Safehold's full detection, plain ua-parser, and plain device-detector.

Families are compared in matomo's vocabulary: a name (ours, ua-parser's or matomo's) is
turned into matomo's browser or OS family with device-detector's own tables, so no side
is judged by a mapping written for it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml
from device_detector import DeviceDetector  # type: ignore[import-untyped]
from device_detector.parser import settings as dd  # type: ignore[import-untyped]
from ua_parser import parse as ua_parse

from safehold.events import matomo
from safehold.events.devices import Device, Hints, detect_uncached

CORPORA = Path(__file__).resolve().parents[1].parent / "shared" / "corpora"
FIXTURES = CORPORA / "device-detector" / "fixtures"
UAP = CORPORA / "uap-core"
TVISH = frozenset({"smart_tv", "set_top_box"})
# Names that differ between ua-parser/Safehold and matomo for the same thing.
SYNONYMS = {
    "android webview": "chrome webview", "chrome mobile webview": "chrome webview",
    "ios webview": "mobile safari", "mobile safari ui/wkwebview": "mobile safari",
    "samsung internet": "samsung browser", "edge": "microsoft edge",
    "edge mobile": "microsoft edge", "ie": "internet explorer", "ie mobile": "iemobile",
    "yandex": "yandex browser", "silk": "mobile silk", "amazon silk": "mobile silk",
    "firefox ios": "firefox mobile ios", "chrome mobile ios": "chrome mobile ios",
    "macos": "mac", "mac os x": "mac", "chromeos": "chrome os", "linux": "gnu/linux",
    "ipados": "ipados", "web0s": "webos", "netcast": "gnu/linux", "roku os": "roku os",
    "tvos": "tvos", "windows phone": "windows phone", "blackberry os": "blackberry os",
}  # fmt: skip
# The split the fixtures make clear: a model that says box or stick, or a maker of players
# only, is a box; a TV-set maker's device whose model says no such thing is a TV set.
CLEAR_BOX = re.compile(r"box|stick|chromecast|shield|fire tv|apple tv|mag ?\d{3}|cube", re.I)
TV_SET_MAKERS = frozenset(
    {"samsung", "lg", "sony", "panasonic", "philips", "sharp", "hisense", "tcl", "vestel",
     "toshiba", "grundig", "telefunken", "thomson", "loewe", "metz", "skyworth", "haier",
     "changhong", "jvc", "hitachi", "sanyo", "medion", "finlux", "blaupunkt"}
)  # fmt: skip
BOX_MAKERS = frozenset({"infomir", "formuler", "nvidia", "apple", "roku", "zidoo", "dune hd"})


def _key(name: str | None) -> str:
    low = (name or "").strip().lower()
    return SYNONYMS.get(low, low)


def browser_family(name: str | None) -> str:
    """matomo's browser family of a browser name ("" when none or unknown)."""
    low = _key(name)
    if not low or low in ("other", "unknown"):
        return ""
    code = dd.BROWSER_TO_ABBREV.get(low)
    return str(dd.FAMILY_FROM_ABBREV.get(code, low)) if code else low


def os_family(name: str | None) -> str:
    low = _key(name)
    if not low or low in ("other", "unknown"):
        return ""
    code = dd.OS_TO_ABBREV.get(low)
    return str(dd.FAMILY_FROM_OS.get(code, low)).lower() if code else low


@dataclass
class Case:
    ua: str
    hints: Hints
    device_type: str  # matomo's ("" unknown)
    brand: str
    model: str
    os_family: str  # matomo's family, lower case ("" unknown)
    browser_family: str
    bot: bool = False


def _hints(headers: dict[str, object] | None) -> Hints:
    h = {str(k).lower(): str(v) for k, v in (headers or {}).items()}

    def quoted(name: str) -> str | None:
        value = h.get(name)
        return None if value is None else value if value.startswith(('"', "?")) else f'"{value}"'

    return Hints(ua=h.get("sec-ch-ua"), mobile=h.get("sec-ch-ua-mobile"),
                 platform=quoted("sec-ch-ua-platform"),
                 platform_version=quoted("sec-ch-ua-platform-version"),
                 model=quoted("sec-ch-ua-model"))  # fmt: skip


def matomo_cases(every: int = 1, tv_every: int = 1) -> Iterator[Case]:
    """Every ``every``-th fixture of each file (``tv_every``-th of the TV and bot files)."""
    for path in sorted(FIXTURES.glob("*.yml")):
        step = tv_every if path.stem.startswith(("tv", "bots")) else every
        for n, entry in enumerate(yaml.load(path.read_text(), Loader=yaml.CSafeLoader) or []):
            if n % step:
                continue
            ua = str(entry.get("user_agent") or "")
            if "bot" in entry:
                yield Case(ua, Hints(), "", "", "", "", "", bot=True)
                continue
            device = entry.get("device") or {}
            fam = lambda v: "" if str(v or "Unknown") == "Unknown" else str(v).lower()  # noqa: E731
            yield Case(ua, _hints(entry.get("headers")), str(device.get("type") or ""),
                       str(device.get("brand") or ""), str(device.get("model") or ""),
                       fam(entry.get("os_family")), fam(entry.get("browser_family")))  # fmt: skip


@dataclass
class Tally:
    hits: int = 0
    cases: int = 0

    def add(self, ok: bool) -> None:
        self.hits += ok
        self.cases += 1

    @property
    def rate(self) -> float:
        return self.hits / self.cases if self.cases else 0.0


@dataclass
class Scores:
    tv_or_box: Tally = field(default_factory=Tally)
    tv_box_split: Tally = field(default_factory=Tally)
    device_type: Tally = field(default_factory=Tally)
    browser: Tally = field(default_factory=Tally)
    os: Tally = field(default_factory=Tally)
    bot_recall: Tally = field(default_factory=Tally)
    bot_false: Tally = field(default_factory=Tally)  # non-bots flagged (lower is better)


def _expected_types(case: Case) -> set[str]:
    if case.device_type == "tv":
        return set(TVISH)
    if not case.device_type:
        return {"unknown"}
    return {matomo.TYPES.get(case.device_type, case.device_type)}


def _clear_split(case: Case) -> str | None:
    if case.device_type != "tv":
        return None
    if CLEAR_BOX.search(case.model) or case.brand.lower() in BOX_MAKERS:
        return "set_top_box"
    if case.brand.lower() in TV_SET_MAKERS:
        return "smart_tv"
    return None


def score_device(scores: Scores, case: Case, device: Device | None, browser: str | None,
                 os: str | None, is_bot: bool) -> None:  # fmt: skip
    """Add one case's answer (``device`` None: the detector names no device type)."""
    if case.bot:
        scores.bot_recall.add(is_bot)
        return
    scores.bot_false.add(is_bot)
    if case.browser_family:  # a browser (apps and libraries have no browser family)
        scores.browser.add(browser_family(browser) == case.browser_family)
    if case.os_family:
        scores.os.add(os_family(os) == case.os_family)
    if device is None:
        return
    kind = str(device.device_type)
    scores.device_type.add(kind in _expected_types(case))
    if case.device_type == "tv":
        scores.tv_or_box.add(kind in TVISH)
    clear = _clear_split(case)
    if clear is not None:
        scores.tv_box_split.add(kind == clear)


def score_matomo(every: int = 1, tv_every: int = 1, *, plain_dd: bool = True) -> dict[str, Scores]:
    """Safehold, plain ua-parser and (``plain_dd``) plain device-detector over the matomo
    fixtures."""
    out = {"safehold": Scores(), "ua-parser": Scores(), "device-detector": Scores()}
    for case in matomo_cases(every, tv_every):
        ours = detect_uncached(case.ua, case.hints)
        score_device(out["safehold"], case, ours, ours.browser_family, ours.os_family,
                     ours.is_bot)  # fmt: skip
        plain = ua_parse(case.ua)
        score_device(out["ua-parser"], case, None,
                     plain.user_agent.family if plain.user_agent else None,
                     plain.os.family if plain.os else None,
                     bool(plain.device and plain.device.family == "Spider"))  # fmt: skip
        if not plain_dd:
            continue
        found = DeviceDetector(case.ua, headers=case.hints.headers() or None).parse()
        kind = matomo.TYPES.get(str(found.device_type() or ""), "unknown")
        if kind == "smart_tv":
            kind = matomo._tv(str(found.device_brand() or ""), str(found.device_model() or ""))
        score_device(out["device-detector"], case,
                     replace(Device(kind)) if not found.is_bot() else Device("bot"),
                     found.client_name(), found.os_name(), bool(found.is_bot()))  # fmt: skip
    return out


def score_uap() -> dict[str, tuple[Tally, Tally]]:
    """OS and browser family over uap-core's tests, in uap-core's own names (coarsened the
    same way for every side): Safehold beside plain ua-parser. Only cases where uap-core
    names a family count: where it says "Other", Safehold may name one from matomo's
    detector, which is no error."""
    from safehold.events import quick

    def coarse_browser(name: str | None) -> str:
        name = name or "Other"
        return _key(quick.BROWSER_NAMES.get(name, name))

    def coarse_os(name: str | None) -> str:
        name = name or "Other"
        return _key(quick.OS_NAMES.get(name, name))

    out = {"safehold": (Tally(), Tally()), "ua-parser": (Tally(), Tally())}
    for file, which in (("test_ua.yaml", 1), ("test_os.yaml", 0)):
        for case in yaml.load((UAP / file).read_text(), Loader=yaml.CSafeLoader)["test_cases"]:
            ua, want = case["user_agent_string"], str(case["family"])
            if want == "Other":
                continue
            plain = ua_parse(ua)
            ours = detect_uncached(ua)
            if which:
                expected = coarse_browser(want)
                theirs = plain.user_agent.family if plain.user_agent else None
                out["ua-parser"][1].add(coarse_browser(theirs) == expected)
                out["safehold"][1].add(coarse_browser(ours.browser_family) == expected)
            else:
                expected = coarse_os(want)
                theirs = plain.os.family if plain.os else None
                out["ua-parser"][0].add(coarse_os(theirs) == expected)
                out["safehold"][0].add(coarse_os(ours.os_family) == expected)
    return out
