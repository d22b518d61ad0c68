"""Device detection on public corpora, beside plain ua-parser and plain device-detector
measured in the same run; then its cost: µs per cached look-up, per quick answer (what a
serving process gives a string it has not seen), and per full parse (what the refiner
does off the request path). The box is shared and loaded: ratios within one run count,
absolute times vary.

    .venv/bin/python -m bench.devices [--every 1] [--tv-every 1]

``--every N`` scores every N-th fixture of the non-TV files (the whole corpus takes about
20 minutes on a loaded box: matomo's detector parses each string from scratch).

Targets (issue 19): matomo fixtures — TV sets and boxes typed TV or box >= 97 %, TV vs box
split >= 90 % where the fixture's maker/model makes it clear, all device types >= 97 %,
browser family >= plain ua-parser's, bot recall >= 95 % with false positives <= 0.1 %, OS
family >= 98 %; uap-core — OS and browser family >= 99 %; cached look-up <= 2 µs.
"""

from __future__ import annotations

import argparse
import time

from bench._common import row
from bench.devices_corpus import Tally, score_matomo, score_uap
from safehold.events import devices
from safehold.events.devices import Hints, detect, detect_uncached, quick_answer

SAMPLE = [
    "Mozilla/5.0 (Linux; Android 11; MIBOX4 Build/RP1A; wv) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Version/4.0 Chrome/108.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (SMART-TV; LINUX; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/3.0 Chrome/85.0 TV Safari/537.36",
    "TiviMate/4.7.0 (Linux; Android 11; SHIELD Android TV Build/RQ1A)",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
]


def pct(t: Tally) -> str:
    return f"{100 * t.rate:.1f} % of {t.cases:,}" if t.cases else "—"


def costs() -> tuple[float, float, float]:
    """µs: cached look-up, quick answer, full parse (new strings each time)."""
    for ua in SAMPLE:
        detect(ua)
    start, n = time.perf_counter(), 200_000
    for i in range(n):
        detect(SAMPLE[i & 3])
    cached = (time.perf_counter() - start) / n * 1e6
    start = time.perf_counter()
    for i in range(2_000):
        quick_answer(f"{SAMPLE[i & 3]} build/{i}")
    fast = (time.perf_counter() - start) / 2_000 * 1e6
    start = time.perf_counter()
    for i in range(100):
        detect_uncached(f"{SAMPLE[i & 3]} build/{i}", Hints())
    full = (time.perf_counter() - start) / 100 * 1e6
    return cached, fast, full


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--every", type=int, default=1)
    parser.add_argument("--tv-every", type=int, default=1)
    args = parser.parse_args()
    devices.cache_clear()
    print("the machine is shared and loaded: compare the columns of one run, not runs")
    cached, fast, full = costs()
    print("\ncost, µs per User-Agent")
    row("cached look-up (in-process LRU; target <= 2)", f"{cached:.2f}")
    row("first sight in a serving process: quick answer", f"{fast:.0f}")
    row("full parse, off the request path (refiner)", f"{full:,.0f}")
    scores = score_matomo(args.every, args.tv_every)
    print(f"\nmatomo fixtures (every {args.every}, TV/bots every {args.tv_every})")
    print(f"  {'':42} {'safehold':>20} {'ua-parser':>20} {'device-detector':>20}")
    targets = (("tv_or_box", ">= 97"), ("tv_box_split", ">= 90"), ("device_type", ">= 97"),
               ("browser", ">= ua-parser"), ("os", ">= 98"), ("bot_recall", ">= 95"),
               ("bot_false", "<= 0.1"))  # fmt: skip
    sides = ("safehold", "ua-parser", "device-detector")
    for name, target in targets:
        cells = [pct(getattr(scores[d], name)) for d in sides]
        print(f"  {name + ' (' + target + ')':42} {cells[0]:>20} {cells[1]:>20} {cells[2]:>20}")
    uap = score_uap()
    print("\nuap-core (target >= 99)")
    print(f"  {'':42} {'safehold':>20} {'ua-parser':>20}")
    for i, name in enumerate(("os family", "browser family")):
        print(f"  {name:42} {pct(uap['safehold'][i]):>20} {pct(uap['ua-parser'][i]):>20}")


if __name__ == "__main__":
    main()
