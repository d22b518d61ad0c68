"""The data directory and every file Safehold writes are private to the user it runs as.

The directory holds the embedded database (and its ``-wal`` and ``-shm`` files), the key
file and the console mailer's messages. Values are encrypted, but the audit log, the
events' plain dimensions, IP prefixes and blind indexes are not, and were readable by every
local user with the default umask (review F17, decision 0020).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077  # files 0600, directories 0700
PRIVATE_DIR = 0o700
_OTHERS = 0o077  # group and other permission bits


def restrict_umask() -> None:
    """Make every file and directory this process creates from now on owner-only. Called
    at process start (``safehold`` serve, worker and every command), before anything opens
    the database: SQLite creates its files with 0644 filtered by the umask."""
    os.umask(PRIVATE_UMASK)


def make_private(path: Path) -> None:
    """Create the data directory 0700; tighten an existing one this user owns.

    An existing directory open to group or others loses those permissions (the files inside
    are then out of reach, whatever their own modes), with a warning. One owned by another user, or
    a shared directory (the sticky bit, like /tmp), is left alone, with a warning."""
    from safehold.logs import get_logger  # not at import: every `safehold` call imports this

    log = get_logger(__name__)
    try:
        path.mkdir(mode=PRIVATE_DIR, parents=True)
    except FileExistsError:
        pass
    else:
        path.chmod(PRIVATE_DIR)  # mkdir's mode is filtered by the umask; make sure
        return
    info = path.stat()
    mode = stat.S_IMODE(info.st_mode)
    if not mode & _OTHERS:
        return
    if info.st_uid == os.geteuid() and not mode & stat.S_ISVTX:
        path.chmod(mode & ~_OTHERS)
        log.warning("data_dir_made_private", path=str(path), was=f"{mode:04o}")
    else:
        log.warning(
            "data_dir_not_private", path=str(path), mode=f"{mode:04o}",
            hint="give Safehold a directory of its own, mode 700",
        )  # fmt: skip
