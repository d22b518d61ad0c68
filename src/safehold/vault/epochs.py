"""Key epochs: data whose retention is counted from collection, sealed per month.

Such data (an event's personal properties) is encrypted under the person's data key for
``<retention class>@<YYYY-MM>`` — the month it was collected — and that data key is wrapped
not by the current KEK version but by the *epoch KEK* of the same name, held by the key
provider with the other versions (never in the database). When the month's retention ends,
the retention run destroys the epoch KEK (:mod:`safehold.retention.epochs`): every copy of
that month's data keys, in the database and in every backup, can no longer be unwrapped, at
once, with nothing to re-apply on restore. A provider that cannot destroy one key (the
environment variable) holds no epochs: the data then stays under each person's ordinary key
for the class, as before (it says so at start-up, :func:`startup_note`).

Pure naming and policy look-ups, plus :class:`Epochs`, the per-process memo of the epochs
opened (so ingestion asks the provider once per class and month, not per event).
"""

from __future__ import annotations

import threading
from datetime import date, datetime

from safehold.clock import Clock
from safehold.events.rules import month_bounds
from safehold.policy.capabilities import collected_periods as collected_periods
from safehold.policy.document import Policy
from safehold.policy.durations import add_duration
from safehold.vault.keyring import EPOCH_MARK
from safehold.vault.providers import EPOCHS_UNSUPPORTED, KeyProvider

MARK = EPOCH_MARK  # never in a KEK version name (keyring.VERSION_NAME), nor in a class id


def name(retention_class: str, month: date) -> str:
    """The epoch of a class and month: also the data keys' class and the epoch KEK's name."""
    return f"{retention_class}{MARK}{month.year:04d}-{month.month:02d}"


def parse(key_class: str) -> tuple[str, date] | None:
    """(class, first day of the month) of an epoch name; None for an ordinary class."""
    klass, mark, month = key_class.partition(MARK)
    if not mark:
        return None
    try:
        year, number = (int(part) for part in month.split("-"))
        return klass, date(year, number, 1)
    except ValueError:
        return None


def is_epoch(key_class_or_version: str) -> bool:
    return MARK in key_class_or_version


def base_class(key_class: str) -> str:
    """The retention class a data key belongs to (``usage_events@2026-03`` → ``usage_events``)."""
    return key_class.partition(MARK)[0]


def in_classes(key_class: str, classes: tuple[str, ...] | list[str] | None) -> bool:
    """Whether a data key's class is one of ``classes`` (None: every class), epochs included."""
    return classes is None or base_class(key_class) in classes


def end_of(policy: Policy, epoch: str) -> datetime | None:
    """When the epoch's retention ends: its month's end plus its class's period (None: not an
    epoch, or its class is no longer counted from collection in this policy)."""
    parsed = parse(epoch)
    if parsed is None:
        return None
    period = collected_periods(policy).get(parsed[0])
    return None if period is None else add_duration(month_bounds(parsed[1])[1], period)


def startup_note(provider: KeyProvider, source: str) -> str | None:
    """What start-up says when the provider cannot destroy an epoch (None when it can)."""
    return None if provider.destroys_epochs() else EPOCHS_UNSUPPORTED.format(name=source)


class Epochs:
    """The key class to seal collection-counted data under, opening its epoch on first use."""

    def __init__(self, provider: KeyProvider, clock: Clock) -> None:
        self.provider = provider
        self.clock = clock
        self._ends: dict[str, datetime] = {}  # epochs opened by this process → their end
        self._lock = threading.Lock()

    def key_class(self, policy: Policy, retention_class: str, month: date | None) -> str:
        """``retention_class@YYYY-MM`` when the class is counted from collection and the
        provider can destroy epochs, else ``retention_class`` itself."""
        if month is None or not self.provider.destroys_epochs():
            return retention_class
        epoch = name(retention_class, month)
        end = self._ends.get(epoch)
        if end is not None and end > self.clock.now():
            return epoch
        end = end_of(policy, epoch)
        if end is None:
            return retention_class
        # Opened afresh whenever the memo cannot vouch for it (first use, or a month already
        # past its end, whose epoch the retention run may have destroyed since).
        with self._lock:
            self.provider.open_epoch(epoch)
            self._ends[epoch] = end
        return epoch

    def forget(self, epoch: str) -> None:
        with self._lock:
            self._ends.pop(epoch, None)
