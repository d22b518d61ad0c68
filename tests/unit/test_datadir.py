"""The data directory is made private: created 0700 whatever the umask, an existing one of
ours tightened, a shared one left alone (review F17)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from safehold.datadir import make_private


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.usefixtures("loose_umask")
def test_a_new_data_dir_is_created_owner_only(tmp_path: Path) -> None:
    data = tmp_path / "srv" / "safehold"
    make_private(data)
    assert mode_of(data) == 0o700


@pytest.mark.usefixtures("loose_umask")
def test_an_existing_data_dir_of_ours_loses_group_and_other_access(tmp_path: Path) -> None:
    data = tmp_path / "var"
    data.mkdir()
    data.chmod(0o755)
    make_private(data)
    assert mode_of(data) == 0o700
    make_private(data)  # and stays so
    assert mode_of(data) == 0o700


@pytest.mark.usefixtures("loose_umask")
def test_a_shared_directory_is_left_alone(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # like /tmp: never Safehold's to lock
    make_private(shared)
    assert mode_of(shared) == 0o1777
