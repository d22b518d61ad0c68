"""Demo data: a fictional IPTV customer base, sent through the Python client like a real
back end would — people registered, then their devices, sign-ins, channel plays, guide
browsing and searches, films, errors and sign-outs over the last days.

Everything is invented: names from made-up syllables, addresses at example.com, IP
addresses from the documentation ranges (RFC 5737, RFC 3849). The same seed gives the same
people and the same viewing habits (the e-mail addresses carry a run token so a second run
does not collide with the first).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from safehold.carddata import contains_card_number
from safehold.client import Client, Context, Event

FIRST = (
    "Ada",
    "Bo",
    "Cato",
    "Dalia",
    "Emrys",
    "Fenna",
    "Galen",
    "Hester",
    "Ivo",
    "Juno",
    "Kestrel",
    "Linnea",
    "Milo",
    "Nell",
    "Orrin",
    "Pia",
    "Quill",
    "Rosalind",
    "Soren",
    "Tamsin",
    "Ulla",
    "Vesper",
    "Wren",
    "Xanthe",
    "Yorick",
    "Zinnia",
)
LAST = (
    "Quillfeather",
    "Tumbleweed",
    "Brindlewood",
    "Marrowby",
    "Ashgrove",
    "Fenwhistle",
    "Pebbleton",
    "Larkspur",
    "Thistledown",
    "Copperkettle",
    "Moorcroft",
    "Wickerby",
    "Hollowell",
    "Dunmarsh",
    "Gorsebrook",
    "Kettleridge",
    "Oakhurst",
    "Puddifoot",
)
CHANNELS = (
    "news-1",
    "news-24",
    "sport-1",
    "sport-2",
    "films-1",
    "kids-1",
    "docs-1",
    "music-1",
    "cooking-1",
    "travel-1",
    "series-1",
    "classic-1",
)
GROUPS = {
    "news": "news",
    "spor": "sport",
    "film": "films",
    "kids": "kids",
    "docs": "docs",
    "musi": "music",
    "cook": "lifestyle",
    "trav": "lifestyle",
    "seri": "series",
    "clas": "films",
}
SEARCHES = (
    "cooking show",
    "late news",
    "cup final",
    "nature documentary",
    "cartoon marathon",
    "jazz evening",
    "mountain travel",
    "detective series",
)
ERRORS = (
    ("E_STREAM_TIMEOUT", "The stream did not start in time"),
    ("E_DRM_LICENSE", "The licence server did not answer"),
    ("E_BUFFER_UNDERRUN", "Playback paused to buffer"),
)


@dataclass(frozen=True)
class Gadget:
    label: str
    user_agent: str
    player: str
    hints: dict[str, str] | None = None
    weight: int = 1  # how common it is among an IPTV reseller's viewers (relative)


DEVICES = (
    Gadget(
        "Samsung TV",
        "Mozilla/5.0 (SMART-TV; LINUX; Tizen 5.5) AppleWebKit/537.36 (KHTML, "
        "like Gecko) SamsungBrowser/3.0 Chrome/69.0.3497.106 TV Safari/537.36",
        "tizen",
        weight=12,
    ),
    Gadget(
        "LG TV",
        "Mozilla/5.0 (Web0S; Linux/SmartTV) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/79.0.3945.79 Safari/537.36 WebAppManager",
        "webos",
        weight=9,
    ),
    Gadget(
        "MAG box",
        "Mozilla/5.0 (QtEmbedded; U; Linux; C) AppleWebKit/533.3 (KHTML, like "
        "Gecko) MAG250 stbapp ver: 4 rev: 2721 Mobile Safari/533.3",
        "stbapp",
        weight=14,
    ),
    Gadget(
        "Fire TV Stick",
        "Mozilla/5.0 (Linux; Android 9; AFTKA Build/PS7633.3445N; wv) "
        "AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/108.0.5359.160 Mobile "
        "Safari/537.36",
        "exoplayer",
        weight=18,
    ),
    Gadget("TiviMate box", "TiviMate/4.7.0 (Android 11; MIBOX4 Build/RP1A)", "tivimate", weight=14),
    Gadget(
        "IPTV Smarters on an X96 box",
        "IPTV Smarters Pro/3.1.5 (Linux; Android 9; X96 Max Build/PPR1)",
        "smarters",
        weight=8,
    ),
    Gadget(
        "Formuler box",
        "Mozilla/5.0 (Linux; Android 11; Formuler Z10 Pro Max Build/RP1A.201005.006) "
        "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/96.0.4664.104 Safari/537.36",
        "mytvonline",
        weight=6,
    ),
    Gadget(
        "Chromecast with Google TV",
        "Mozilla/5.0 (Linux; Android 12; Chromecast Build/STTE.230319.008; wv) "
        "AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/114.0.5735.196 Mobile "
        "Safari/537.36",
        "exoplayer",
        weight=5,
    ),
    Gadget(
        "OTT Navigator on Fire TV",
        "OTT Navigator/1.6.9.4 (Linux;Android 9; AFTKA)",
        "ottnavigator",
        weight=4,
    ),
    Gadget(
        "Kodi on SHIELD",
        "Kodi/20.2 (Linux; Android 11.0; SHIELD Android TV "
        "Build/RQ1A.210105.003) Android/11.0.0 Sys_CPU/aarch64",
        "kodi",
        weight=4,
    ),
    Gadget("Roku", "Roku/DVP-12.0 (12.0.0.4182-88)", "roku", weight=4),
    Gadget(
        "Android phone",
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, "
        "like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
        "web",
        {
            "Sec-CH-UA": '"Chromium";v="124", "Google Chrome";v="124", "Not-A.Brand";v="99"',
            "Sec-CH-UA-Mobile": "?1",
            "Sec-CH-UA-Platform": '"Android"',
            "Sec-CH-UA-Platform-Version": '"14.0.0"',
        },
        weight=10,
    ),
    Gadget(
        "iPhone",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15"
        " (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
        "web",
        weight=6,
    ),
    Gadget(
        "Windows laptop",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
        "web",
        {"Sec-CH-UA-Platform": '"Windows"', "Sec-CH-UA-Platform-Version": '"15.0.0"'},
        weight=4,
    ),
    Gadget(
        "iPad",
        "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
        "web",
        weight=3,
    ),
    Gadget("VLC", "VLC/3.0.20 LibVLC/3.0.20", "vlc", weight=2),
)
NETWORKS = ("203.0.113.", "198.51.100.", "192.0.2.", "2001:db8:1::", "2001:db8:2::")


@dataclass
class Summary:
    people: int = 0
    sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    example_email: str | None = None  # one demo person's address, to try the privacy center


@dataclass(frozen=True)
class Viewer:
    subject_id: uuid.UUID
    devices: tuple[tuple[Gadget, str, str], ...]  # (gadget, anonymous id, ip)
    evenings: float  # how likely a session is on a given day


def _person(rng: random.Random, index: int, token: str) -> dict[str, str]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    return {
        "name": f"{first} {last}",
        "email": f"{first}.{last}.{index}.{token}@example.com".lower(),
    }


def _pick(rng: random.Random, count: int) -> list[Gadget]:
    """``count`` different gadgets, the common ones (boxes and sticks first) more often."""
    left, picked = list(DEVICES), []
    for _ in range(count):
        gadget = rng.choices(left, weights=[g.weight for g in left])[0]
        left.remove(gadget)
        picked.append(gadget)
    return picked


def _viewer(rng: random.Random, subject_id: uuid.UUID) -> Viewer:
    count = rng.choices((1, 2, 3), weights=(5, 3, 1))[0]
    network = rng.choice(NETWORKS)
    devices = tuple(
        (
            gadget,
            f"dev-{uuid.UUID(int=rng.getrandbits(128)).hex[:12]}",
            f"{network}{rng.randint(2, 250)}",
        )
        for gadget in _pick(rng, count)
    )
    return Viewer(subject_id, devices, rng.uniform(0.4, 0.95))


def _session(rng: random.Random, viewer: Viewer, start: datetime, now: datetime) -> list[Event]:
    gadget, anonymous_id, ip = rng.choice(viewer.devices)
    context = Context(user_agent=gadget.user_agent, ip=ip, client_hints=gadget.hints)
    sid, at, out = viewer.subject_id, start, []

    def add(name: str, props: dict[str, object], *, signed_in: bool = True) -> None:
        nonlocal at
        if at < now:
            out.append(
                Event(
                    name,
                    subject_id=sid if signed_in else None,
                    anonymous_id=anonymous_id,
                    properties=props,
                    timestamp=at,
                    context=context,
                )
            )
        at += timedelta(seconds=rng.randint(5, 90))

    add("app.open", {"app_version": "3.2", "screen": "home"}, signed_in=False)
    add("guide.browse", {"section": "home", "page": 1}, signed_in=False)
    add("login", {"method": rng.choice(("password", "code", "remembered"))})
    for _ in range(rng.randint(2, 12)):
        roll = rng.random()
        if roll < 0.55:
            channel = rng.choice(CHANNELS)
            seconds = int(rng.expovariate(1 / 900))
            add(
                "channel.play",
                {
                    "channel_id": channel,
                    "channel_group": GROUPS[channel[:4]],
                    "quality": rng.choice(("sd", "hd", "hd", "uhd")),
                    "duration_s": seconds,
                    "player": gadget.player,
                },
            )
            at += timedelta(seconds=seconds)
        elif roll < 0.8:
            add(
                "guide.browse",
                {
                    "section": rng.choice(("now", "tonight", "films", "sport")),
                    "page": rng.randint(1, 5),
                },
            )
        elif roll < 0.88:
            add("guide.search", {"query": rng.choice(SEARCHES), "results": rng.randint(0, 20)})
        elif roll < 0.95:
            seconds = rng.randint(600, 7200)
            add(
                "vod.play",
                {
                    "title_id": f"title-{rng.randint(1, 400)}",
                    "quality": "hd",
                    "duration_s": seconds,
                    "player": gadget.player,
                },
            )
            at += timedelta(seconds=seconds)
        else:
            code, message = rng.choice(ERRORS)
            add(
                "app.error",
                {
                    "code": code,
                    "message": message,
                    "screen": "player",
                    "player": gadget.player,
                    "channel_id": rng.choice(CHANNELS),
                },
            )
    if rng.random() < 0.7:
        add("logout", {"reason": "user"})
    return out


def generate(
    client: Client,
    *,
    subjects: int,
    days: int,
    now: datetime | None = None,
    seed: int = 7,
    progress: Callable[[int, int], None] | None = None,
) -> Summary:
    """Register ``subjects`` people and send ``days`` days of their viewing; ``progress``
    is called with (done, total) steps (a person registered, a person-day sent)."""
    rng, now = random.Random(seed), now or datetime.now(UTC)  # noqa: S311 - demo data
    token = uuid.uuid4().hex[:6]
    total, done, summary = subjects * (1 + days), 0, Summary()
    viewers = []
    for index in range(subjects):
        person = _person(rng, index, token)
        subject_id = client.register_subject(
            name=person["name"], email=person["email"], marketing_opt_in=rng.random() < 0.6
        )
        # About 0.14% of person ids hold a digit run that the card-number check refuses in
        # any request body, so no event could name them (docs/events.md, "Known issues").
        while contains_card_number(str(subject_id)):
            subject_id = client.register_subject(
                name=person["name"], email=f"again.{uuid.uuid4().hex[:8]}.{person['email']}"
            )
        viewers.append(_viewer(rng, subject_id))
        summary.people += 1
        summary.example_email = summary.example_email or person["email"]
        done += 1
        if progress:
            progress(done, total)
    pending: list[Event] = []
    for day in range(days - 1, -1, -1):
        midnight = (now - timedelta(days=day)).replace(hour=0, minute=0, second=0, microsecond=0)
        for viewer in viewers:
            for _ in range(rng.choices((0, 1, 2, 3), weights=(2, 5, 3, 1))[0]):
                if rng.random() < viewer.evenings:
                    start = midnight + timedelta(
                        hours=rng.choice((7, 12, 18, 19, 20, 21, 22)), minutes=rng.randint(0, 59)
                    )
                    pending += _session(rng, viewer, start, now)
            if len(pending) >= client.batch_size:
                _send(client, pending, summary)
                pending = []
            done += 1
            if progress:
                progress(done, total)
    _send(client, pending, summary)
    return summary


def _send(client: Client, events: Sequence[Event], summary: Summary) -> None:
    for start in range(0, len(events), client.batch_size):
        result = client.send(events[start : start + client.batch_size])
        summary.sent += len(result.results)
        summary.accepted += result.accepted
        summary.duplicates += result.duplicates
        for refused in result.rejected:
            reason = refused.reason or "unknown"
            summary.rejected[reason] = summary.rejected.get(reason, 0) + 1
