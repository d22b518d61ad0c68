"""A software passkey authenticator for the tests (a fake, not a mock): it makes an ES256
key pair and answers WebAuthn options as a browser would, as the JSON ``toJSON()`` gives —
``none`` attestation, user present and verified, a counter that goes up by one per use.
The origin it reports is what a browser would put in its client data: by default the one
the options' relying party is served on."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from httpx import Response

from tests.e2e.staff_support import token

ORIGIN = "https://safehold.example.com"
OPTIONS = re.compile(r'data-options="([^"]*)"')
CEREMONY = re.compile(r'name="ceremony" value="([0-9a-f-]{36})"')
UP, UV, AT = 0x01, 0x04, 0x40


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class SoftPasskey:
    rp_id: str = "safehold.example.com"
    origin: str = ORIGIN
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    credential_id: bytes = field(default_factory=lambda: os.urandom(32))
    user_handle: bytes | None = None
    count: int = 0
    verified: bool = True  # the authenticator checked its PIN or biometric (the UV flag)

    def _cose(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        x, y = numbers.x.to_bytes(32, "big"), numbers.y.to_bytes(32, "big")
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: x, -3: y})

    def _client_data(self, kind: str, challenge: str) -> bytes:
        data = {"type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": False}
        return json.dumps(data).encode()

    def create(self, options: dict[str, Any]) -> str:
        """The answer to ``navigator.credentials.create()`` for ``options``, as JSON."""
        self.user_handle = unb64(options["user"]["id"])
        rp_hash = hashlib.sha256(self.rp_id.encode()).digest()
        attested = bytes(16) + struct.pack(">H", len(self.credential_id)) + self.credential_id
        flags = UP | AT | (UV if self.verified else 0)
        auth_data = rp_hash + bytes([flags]) + struct.pack(">I", self.count)
        auth_data += attested + self._cose()
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = self._client_data("webauthn.create", options["challenge"])
        return json.dumps({
            "id": b64(self.credential_id), "rawId": b64(self.credential_id), "type": "public-key",
            "response": {"clientDataJSON": b64(client_data),
                         "attestationObject": b64(attestation), "transports": ["internal"]},
            "clientExtensionResults": {}, "authenticatorAttachment": "platform",
        })  # fmt: skip

    def get(self, options: dict[str, Any], *, count: int | None = None) -> str:
        """The answer to ``navigator.credentials.get()`` for ``options``, as JSON."""
        self.count = self.count + 1 if count is None else count
        rp_hash = hashlib.sha256(self.rp_id.encode()).digest()
        auth_data = rp_hash + bytes([UP | (UV if self.verified else 0)])
        auth_data += struct.pack(">I", self.count)
        client_data = self._client_data("webauthn.get", options["challenge"])
        signed = auth_data + hashlib.sha256(client_data).digest()
        signature = self.key.sign(signed, ec.ECDSA(hashes.SHA256()))
        return json.dumps({
            "id": b64(self.credential_id), "rawId": b64(self.credential_id), "type": "public-key",
            "response": {"clientDataJSON": b64(client_data), "authenticatorData": b64(auth_data),
                         "signature": b64(signature),
                         "userHandle": b64(self.user_handle) if self.user_handle else None},
            "clientExtensionResults": {}, "authenticatorAttachment": "platform",
        })  # fmt: skip


def ceremony_of(page: Response) -> tuple[str, dict[str, Any]]:
    """The ceremony id and the WebAuthn options a passkey page carries."""
    assert page.status_code == 200, page.text
    found, options = CEREMONY.search(page.text), OPTIONS.search(page.text)
    assert found, "the page carries no passkey ceremony"
    assert options, "the page carries no WebAuthn options"
    return found.group(1), json.loads(html.unescape(options.group(1)))


def begin_sign_in(client: TestClient) -> Response:
    form = client.get("/admin/sign-in")
    return client.post("/admin/sign-in/passkey", data={"csrf_token": token(form), "next": "/admin"})


def answer_sign_in(client: TestClient, ceremony: str, credential: str) -> Response:
    form = client.get("/admin/sign-in")
    data = {"csrf_token": token(form), "ceremony": ceremony, "credential": credential,
            "next": "/admin"}  # fmt: skip
    return client.post("/admin/sign-in/passkey/verify", data=data, follow_redirects=False)


def sign_in(client: TestClient, passkey: SoftPasskey) -> Response:
    ceremony, options = ceremony_of(begin_sign_in(client))
    return answer_sign_in(client, ceremony, passkey.get(options))


def register(client: TestClient, passkey: SoftPasskey, name: str = "Work laptop") -> Response:
    """Add ``passkey`` from the signed-in member's list page."""
    listing = client.get("/admin/passkeys")
    page = client.post("/admin/passkeys/new", data={"csrf_token": token(listing)})
    ceremony, options = ceremony_of(page)
    data = {"csrf_token": token(page), "ceremony": ceremony, "credential": passkey.create(options),
            "name": name}  # fmt: skip
    return client.post("/admin/passkeys/add", data=data, follow_redirects=False)
