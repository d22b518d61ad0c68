from __future__ import annotations

import pytest

from safehold.clock import FrozenClock
from safehold.vault.providers import MemoryKeyProvider
from safehold.vault.service import Vault


@pytest.fixture
def provider() -> MemoryKeyProvider:
    return MemoryKeyProvider()


@pytest.fixture
def vault(provider: MemoryKeyProvider, clock: FrozenClock) -> Vault:
    return Vault(provider, clock)
