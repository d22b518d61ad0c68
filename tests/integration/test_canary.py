"""Canary: people registered with a unique marker in every field leave no plaintext trace —
not in the SQLite file, not in its write-ahead log, not in a pg_dump of PostgreSQL."""

from __future__ import annotations

import secrets
import shutil
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import URL

from safehold import migrate
from safehold.access import service as keys
from safehold.access.rules import Actor
from safehold.app import create_app
from safehold.config import Settings
from safehold.runtime import Runtime, build_runtime
from tests.conftest import DEFAULT_POLICY


def people(n: int) -> list[dict[str, object]]:
    out = []
    for i in range(n):
        tag = secrets.token_hex(6)
        out.append(
            {
                "name": f"Qzcanary{tag} Marker",
                "email": f"qzmail{tag}@example.com",
                "phone": f"+44 20 7946 0{100 + i:03d}",
                "address": {
                    "street": f"{tag} Qzstreet Lane",
                    "postal_code": f"QZ{tag[:6]}",
                    "city": f"Qzcity{tag}",
                    "country": "GB",
                },
                "marketing_opt_in": bool(i % 2),
            }
        )
    return out


def markers(person: dict[str, object]) -> list[str]:
    address = person["address"]
    assert isinstance(address, dict)
    phone_digits = "".join(ch for ch in str(person["phone"]) if ch.isdigit())
    return [
        str(person["name"]).split()[0].lower(),
        str(person["email"]).split("@")[0],
        phone_digits,
        address["street"].split()[0] + " qzstreet",
        address["postal_code"].lower(),
        address["city"].lower(),
    ]


def populate(runtime: Runtime) -> list[str]:
    """Register people, add cards, correct one; return every marker that was ever sent."""
    with runtime.sessions() as session:
        token = keys.create_key(
            session, name="canary", scopes=["subjects:read", "subjects:write"],
            purposes=["*"], known_purposes=runtime.policy.purpose_ids, clock=runtime.clock,
            actor=Actor("admin", "test"),
        ).token  # fmt: skip
        session.commit()
    auth = {"Authorization": f"Bearer {token}"}
    sent: list[str] = []
    with TestClient(create_app(runtime)) as client:
        for person in people(4):
            sid = client.post("/v1/subjects", json=person, headers=auth).json()["id"]
            card_token = f"pm_qztoken{secrets.token_hex(6)}"
            client.post(
                f"/v1/subjects/{sid}/payment-methods",
                json={"processor": "example-pay", "processor_token": card_token,
                      "brand": "visa", "last4": "4242", "exp_month": 1, "exp_year": 2030},
                headers=auth,
            ).raise_for_status()  # fmt: skip
            new_name = f"Qzrenamed{secrets.token_hex(6)}"
            client.patch(
                f"/v1/subjects/{sid}", json={"name": new_name, "source": "person"}, headers=auth
            ).raise_for_status()
            read = client.get(f"/v1/subjects/{sid}?purpose=service_provision", headers=auth)
            assert read.json()["data"]["account.name"]["full_name"] == new_name
            sent += [*markers(person), card_token.lower(), new_name.lower()]
    return sent


def assert_absent(blob: bytes, sent: list[str], where: str) -> None:
    # Positive control: the processor's name is stored in plain text, so the scan must see it.
    assert b"example-pay" in blob, f"the scan of {where} cannot see plain text at all"
    haystack = blob.lower()
    hexed = blob.hex()
    for marker in sent:
        assert marker.encode() not in haystack, f"plaintext marker found in {where}"
        assert marker.encode().hex() not in hexed, f"hex-encoded marker found in {where}"


def test_no_plaintext_in_the_sqlite_file_or_its_wal(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, policy=DEFAULT_POLICY)
    runtime = build_runtime(settings)
    migrate.upgrade(runtime.engine)
    sent = populate(runtime)
    db = Path(str(settings.database.database))
    wal = db.with_name(db.name + "-wal")
    assert wal.exists()
    assert wal.stat().st_size > 0, "the WAL should hold the recent writes"
    assert_absent(db.read_bytes() + wal.read_bytes(), sent, "the SQLite file or WAL")
    runtime.close()


@pytest.mark.postgres
def test_no_plaintext_in_a_pg_dump(postgres_runtime: tuple[Runtime, URL]) -> None:
    runtime, url = postgres_runtime
    sent = populate(runtime)
    pg_dump = shutil.which("pg_dump")
    assert pg_dump is not None, "pg_dump is needed for the PostgreSQL canary"
    target = url.set(drivername="postgresql").render_as_string(hide_password=False)
    dump = subprocess.run(  # noqa: S603 — our own scratch database's URL
        [pg_dump, "--data-only", "--no-owner", target], capture_output=True, check=True
    ).stdout
    assert b"COPY public.personal_values" in dump
    assert_absent(dump, sent, "the pg_dump")
