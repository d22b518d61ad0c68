"""Issue 20, item 11: on /me/details an emptied phone number or postal address is removed —
a rectification request made by the person, carried out at once — not refused."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from sqlalchemy import select

from safehold.requests.models import DataRequest
from safehold.runtime import Runtime
from tests.e2e.test_privacy_center import ada as _ada_fixture
from tests.e2e.test_privacy_center import post_form
from tests.e2e.test_privacy_center import settings as _settings_fixture
from tests.e2e.test_privacy_center import signed_in as _signed_in_fixture

# the privacy-center tests' fixtures, shared: SMTP sink settings, Ada, Ada signed in
settings, ada, signed_in = _settings_fixture, _ada_fixture, _signed_in_fixture
MINE = {"name": "Ada Quill", "email": "ada.quill@example.com"}
ADDRESS = {"street": "1 Fictional Way", "postal_code": "AB1 2CD", "city": "Exampleton",
           "country": "GB"}  # fmt: skip
EMPTY = dict.fromkeys(ADDRESS, "")


def test_a_person_removes_their_phone_and_address(
    signed_in: TestClient, runtime: Runtime, ada: uuid.UUID
) -> None:
    added = post_form(signed_in, "/me/details", {**MINE, "phone": "+44 20 7946 0958", **ADDRESS})
    assert added.status_code == 303, added.text
    assert "Exampleton" in signed_in.get("/me").text

    answer = post_form(signed_in, "/me/details", {**MINE, "phone": "", **EMPTY})
    assert answer.status_code == 303, answer.text
    page = signed_in.get(answer.headers["location"]).text
    assert "Your details are corrected." in page
    overview = signed_in.get("/me").text
    assert "+442079460958" not in overview
    assert "Exampleton" not in overview
    with runtime.sessions() as session:
        made = session.scalars(
            select(DataRequest)
            .where(DataRequest.subject_id == ada)
            .order_by(DataRequest.received_at, DataRequest.id)
        ).all()
    removal = [r for r in made if r.progress["rectification"].get("removed")]
    assert len(removal) == 1
    assert (removal[0].kind, removal[0].status, removal[0].made_by) == (
        "rectification", "completed", "subject")  # fmt: skip
    assert removal[0].progress["rectification"]["removed"] == ["address", "phone"]

    again = post_form(signed_in, "/me/details", {**MINE, "phone": "", **EMPTY})
    assert again.status_code == 200  # nothing held to remove: nothing changes
    assert "Nothing changed" in again.text
