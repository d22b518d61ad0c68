"""Issue 20, item 8: "What we hold" describes each purpose once, says what it uses, and
names beside each kind of information the purposes that use it (linking to that one
description) instead of repeating every description under every category."""

from __future__ import annotations

import re
import uuid

from fastapi.testclient import TestClient

from safehold.runtime import Runtime
from tests.e2e.test_privacy_center import ada as _ada_fixture
from tests.e2e.test_privacy_center import settings as _settings_fixture
from tests.e2e.test_privacy_center import signed_in as _signed_in_fixture

# the privacy-center tests' fixtures, shared: SMTP sink settings, Ada, Ada signed in
settings, ada, signed_in = _settings_fixture, _ada_fixture, _signed_in_fixture


def test_each_purpose_is_described_once_with_what_it_uses(
    signed_in: TestClient, runtime: Runtime, ada: uuid.UUID
) -> None:
    page = signed_in.get("/me")
    assert page.status_code == 200
    text = page.text
    policy = runtime.policy
    labels = {c.id: c.label for c in policy.categories}
    for purpose in policy.purposes:
        assert text.count(f">{purpose.description}<") == 1, purpose.id
        section = text.split(f'id="p-{purpose.id}"', 1)[1].split("<h3", 1)[0]
        uses = [labels[c] for c in purpose.categories]
        assert all(label in section for label in uses), purpose.id
    # each kind of information links to the purposes that use it, and only those
    for category in policy.categories:
        block = text.split(f">{category.label}</h2>", 1)[1].split("</section>", 1)[0]
        linked = set(re.findall(r'href="#p-([^"]+)"', block))
        assert linked == {p.id for p in policy.purposes if category.id in p.categories}
