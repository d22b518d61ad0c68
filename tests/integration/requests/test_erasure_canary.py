"""Residue canary for erasure: a person whose every field carries a unique marker is erased;
then the SQLite file with its WAL (after the erasure's checkpoint) and a pg_dump are scanned.
No marker may appear in plain text anywhere, and no ciphertext or wrapped key of an erased
class may remain: only what the certificate says was kept. Then the completion e-mail is sent
(its address, which carries the marker, was kept for it) and the scan runs again: its key and
its sealed address are gone too (decision 0028)."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import URL

from safehold import migrate
from safehold.comms.models import OutboxItem
from safehold.config import Settings
from safehold.requests import jobs
from safehold.runtime import Runtime, build_runtime
from safehold.subjects.models import PaymentMethod, PersonalValue
from safehold.vault.models import DataKey
from tests.conftest import DEFAULT_POLICY
from tests.integration.comms.support import deliver_all
from tests.integration.requests.support import ctx, person, verified


def _erase_marked_person(runtime: Runtime) -> tuple[list[str], dict[str, list[bytes]], dict]:
    tag = secrets.token_hex(6)
    token = f"pm_qztoken{tag}"
    sid = person(runtime, f"Qzcanary{tag}", card_token=token)
    markers = [f"qzcanary{tag}", token.lower()]
    blobs = _blobs(runtime, sid)
    rid = verified(runtime, sid)
    cert = jobs.erase(runtime.sessions, ctx(runtime), rid)
    with runtime.sessions() as session:  # what the completion e-mail's row holds meanwhile
        for entry in cert["kept"]:
            if entry["kind"] == "completion_mail":
                item = session.get(OutboxItem, (sid, uuid.UUID(entry["ref"])))
                key = session.get(DataKey, (sid, entry["classes"][0]))
                assert item is not None
                assert item.sealed_recipient
                assert key is not None
                blobs[entry["classes"][0]] = [item.sealed_recipient, key.wrapped_key]
    return markers, blobs, cert


class Sent:
    """A mailer that keeps what it is handed, in memory (the scan is of the database)."""

    def __init__(self) -> None:
        self.to: list[str] = []

    def connect(self) -> None:
        return None

    def send(self, message: bytes, *, sender: str, recipient: str) -> None:  # noqa: ARG002
        self.to.append(recipient)

    def close(self) -> None:
        return None


def _send_completion(runtime: Runtime, cert: dict) -> dict:  # type: ignore[type-arg]
    """Deliver the completion e-mail; the certificate as the scan then reads it: its
    address no longer kept."""
    mailer = Sent()
    deliver_all(runtime, mailer)
    assert len(mailer.to) == 1
    assert mailer.to[0].startswith("qzcanary")
    return {**cert, "kept": [k for k in cert["kept"] if k["kind"] != "completion_mail"]}


def _blobs(runtime: Runtime, sid: uuid.UUID) -> dict[str, list[bytes]]:
    """Every ciphertext and wrapped key of the person, by retention class."""
    out: dict[str, list[bytes]] = {}
    with runtime.sessions() as session:
        for row in session.scalars(select(PersonalValue).where(PersonalValue.subject_id == sid)):
            out.setdefault(row.retention_class, []).append(row.ciphertext)
        for key in session.scalars(select(DataKey).where(DataKey.subject_id == sid)):
            out.setdefault(key.retention_class, []).append(key.wrapped_key)
        for card in session.scalars(select(PaymentMethod).where(PaymentMethod.subject_id == sid)):
            out.setdefault(
                runtime.policy.retention_class("account.payment", "processor_token"), []
            ).append(card.token)
    return out


def _check(
    blob: bytes, markers: list[str], blobs: dict[str, list[bytes]], cert: dict, where: str
) -> None:
    assert cert["verification"]["ok"], cert["verification"]
    kept = {c for item in cert["kept"] for c in item["classes"]}
    shredded = set(cert["erased"]["retention_classes_shredded"])
    assert shredded
    assert shredded.isdisjoint(kept)
    lowered = blob.lower()
    for marker in markers:
        found = marker.encode() in lowered  # not asserted inline: pytest would print the file
        assert not found, f"plaintext marker in {where}"
    for klass, pieces in blobs.items():
        for piece in pieces:
            if klass in kept:
                continue  # the certificate says it stays (and it is still readable)
            found = piece in blob
            assert not found, f"{klass} ciphertext or key left in {where}"
    # Positive control: what was kept is still there, so the scan sees stored bytes.
    assert any(p in blob for k in kept for p in blobs.get(k, [])), f"scan of {where} sees nothing"


def test_nothing_of_an_erased_person_remains_in_the_sqlite_file_or_its_wal(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, policy=DEFAULT_POLICY)
    runtime = build_runtime(settings)
    migrate.upgrade(runtime.engine)
    markers, blobs, cert = _erase_marked_person(runtime)
    assert cert["storage"]["sqlite_wal_checkpoint"]["done"] is True
    db = Path(str(settings.database.database))
    wal = db.with_name(db.name + "-wal")
    data = db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    _check(data, markers, blobs, cert, "the SQLite file or WAL")
    after = _send_completion(runtime, cert)
    data = db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    _check(data, markers, blobs, after, "the SQLite file or WAL after the completion e-mail")
    runtime.close()


@pytest.mark.postgres
def test_nothing_of_an_erased_person_remains_in_a_pg_dump(
    postgres_runtime: tuple[Runtime, URL],
) -> None:
    runtime, url = postgres_runtime
    markers, blobs, cert = _erase_marked_person(runtime)
    # pg_dump writes bytea as \x<hex>: compare hex there.
    as_hex = {k: [p.hex().encode() for p in v if p] for k, v in blobs.items()}
    _check_hex(_pg_dump(url), markers, as_hex, cert)
    after = _send_completion(runtime, cert)
    _check_hex(_pg_dump(url), markers, as_hex, after)


def _pg_dump(url: URL) -> bytes:
    pg_dump = shutil.which("pg_dump")
    assert pg_dump is not None, "pg_dump is needed for the PostgreSQL canary"
    target = url.set(drivername="postgresql").render_as_string(hide_password=False)
    dump = subprocess.run(  # noqa: S603 — our own scratch database's URL
        [pg_dump, "--data-only", "--no-owner", target], capture_output=True, check=True
    ).stdout
    return dump.lower()


def _check_hex(dump: bytes, markers: list[str], blobs: dict[str, list[bytes]], cert: dict) -> None:
    _check(dump, markers, blobs, cert, "the pg_dump")
