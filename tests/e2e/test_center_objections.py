"""Issue 17 item 9: the privacy center offers objecting to platform improvement (the policy
promises it "at any time") and withdrawing the objection; both take effect at once."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from sqlalchemy import select

from safehold.analytics.models import Objection
from safehold.policy.rules import decide
from safehold.requests.models import DataRequest
from safehold.runtime import Runtime
from safehold.subjects import service as subjects
from tests.e2e.test_privacy_center import ada as _ada_fixture
from tests.e2e.test_privacy_center import audited, post_form
from tests.e2e.test_privacy_center import settings as _settings_fixture
from tests.e2e.test_privacy_center import signed_in as _signed_in_fixture

# the privacy-center tests' fixtures, shared: SMTP sink settings, Ada, Ada signed in
settings, ada, signed_in = _settings_fixture, _ada_fixture, _signed_in_fixture


def _refused_rule(runtime: Runtime, person: uuid.UUID) -> str | None:
    with runtime.sessions() as session:
        state = subjects.state_of(session, subjects.get(session, person))
    return decide(runtime.policy, "platform_improvement", None, state, aggregate=True).refused_rule


def test_a_person_objects_to_platform_improvement_and_withdraws_in_the_center(
    signed_in: TestClient, runtime: Runtime, ada: uuid.UUID
) -> None:
    page = signed_in.get("/me/objections")
    assert page.status_code == 200
    assert "Platform improvement" in page.text
    assert "I object to this use" in page.text
    assert 'value="communication.marketing"' not in page.text  # its opt-out has its own page
    assert _refused_rule(runtime, ada) is None

    answer = post_form(signed_in, "/me/objections", {"purpose": "platform_improvement",
                                                     "action": "object"})  # fmt: skip
    assert answer.status_code == 303, answer.text
    shown = signed_in.get(answer.headers["location"])
    assert "Your objection is recorded" in shown.text
    assert "You object to this use" in shown.text
    assert "Withdraw my objection" in shown.text
    assert _refused_rule(runtime, ada) == "purposes.platform_improvement.objection"
    with runtime.sessions() as session:
        made = session.scalars(select(DataRequest).where(DataRequest.subject_id == ada)).one()
    assert (made.kind, made.purpose, made.status, made.channel) == (
        "objection", "platform_improvement", "completed", "privacy_center")  # fmt: skip

    answer = post_form(signed_in, "/me/objections", {"purpose": "platform_improvement",
                                                     "action": "withdraw"})  # fmt: skip
    assert answer.status_code == 303
    shown = signed_in.get(answer.headers["location"])
    assert "Your objection is withdrawn" in shown.text
    assert "I object to this use" in shown.text
    assert _refused_rule(runtime, ada) is None
    with runtime.sessions() as session:
        rows = session.scalars(select(Objection).where(Objection.subject_id == ada)).all()
    assert len(rows) == 1
    assert rows[0].withdrawn_at is not None  # kept as history, closed
    assert audited(runtime, ada, "subject.object.withdraw")[0].actor == f"subject:{ada}"


def test_a_purpose_not_offered_is_a_form_error(
    signed_in: TestClient, runtime: Runtime, ada: uuid.UUID
) -> None:
    for purpose in ("service_provision", "communication.marketing", "nonsense"):
        answer = post_form(signed_in, "/me/objections", {"purpose": purpose, "action": "object"})
        assert answer.status_code == 422
        assert "Choose one of the uses listed" in answer.text
    withdraw_nothing = post_form(
        signed_in, "/me/objections", {"purpose": "platform_improvement", "action": "withdraw"}
    )
    assert withdraw_nothing.status_code == 303  # nothing in force: back to the page
    with runtime.sessions() as session:
        assert not session.scalars(select(Objection).where(Objection.subject_id == ada)).all()
