from __future__ import annotations

import pytest

from safehold.policy import Policy, load_policy
from tests.conftest import DEFAULT_POLICY


@pytest.fixture(scope="session")
def policy() -> Policy:
    return load_policy(DEFAULT_POLICY)
