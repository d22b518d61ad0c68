"""The batch answer is written from plain dicts (decision 0045): byte for byte what
``BatchOut`` itself serialises, for every kind of outcome."""

from __future__ import annotations

import json
import uuid
from collections import Counter

from safehold.events.intake import Outcome
from safehold.events.routes import _batch_out
from safehold.events.rules import Reason, refuse
from safehold.events.schemas import BatchOut, EventResultOut

PROBLEM = "invalid: \u201cquoted\u201d \u00fcn\u00efcode"  # non-ASCII, as pydantic writes it
FIELDS = [{"location": "timestamp", "problem": PROBLEM, "type": "x"}]
OUTCOMES = [
    Outcome(0, uuid.UUID("0193a5b2-7c1e-7abc-8def-0123456789ab"), "accepted"),
    Outcome(1, uuid.uuid4(), "accepted", details={"dropped_properties": ["email", "phone"]}),
    Outcome(2, uuid.uuid4(), "duplicate"),
    Outcome(3, uuid.uuid4(), "rejected", refuse(Reason.INVALID_EVENT, fields=FIELDS)),
    Outcome(4, None, "rejected", refuse(Reason.EVENT_NAME_NOT_ALLOWED)),
    Outcome(5, uuid.uuid4(), "rejected", refuse(Reason.PURPOSE_REFUSED, rule="purposes.x")),
]


def _as_model(outcomes: list[Outcome]) -> bytes:
    """The answer as the route built it before: every result a validated model."""
    return (
        BatchOut(
            accepted=sum(o.status == "accepted" for o in outcomes),
            duplicates=sum(o.status == "duplicate" for o in outcomes),
            rejected=sum(o.status == "rejected" for o in outcomes),
            results=[
                EventResultOut(
                    index=o.index,
                    event_id=o.event_id,
                    status=o.status,  # type: ignore[arg-type]  # one of the three
                    reason=o.refusal.reason.value if o.refusal else None,
                    message=o.refusal.message if o.refusal else None,
                    details=(o.refusal.details if o.refusal else o.details) or None,
                )
                for o in outcomes
            ],
        )
        .model_dump_json()
        .encode()
    )


def _counts(outcomes: list[Outcome]) -> Counter[tuple[str, str]]:
    return Counter((o.status, o.refusal.reason.value if o.refusal else "") for o in outcomes)


def test_the_answer_is_byte_for_byte_the_models_serialisation() -> None:
    assert _batch_out(OUTCOMES, _counts(OUTCOMES)) == _as_model(OUTCOMES)


def test_the_answer_reads_back_as_a_batch_out() -> None:
    answer = BatchOut.model_validate_json(_batch_out(OUTCOMES, _counts(OUTCOMES)))
    assert (answer.accepted, answer.duplicates, answer.rejected) == (2, 1, 3)
    assert [r.index for r in answer.results] == list(range(6))
    assert answer.results[3].details == {"fields": FIELDS}
    assert answer.results[4].event_id is None
    assert json.loads(_batch_out(OUTCOMES[:1], _counts(OUTCOMES[:1])))["results"][0] == {
        "index": 0, "event_id": "0193a5b2-7c1e-7abc-8def-0123456789ab", "status": "accepted",
        "reason": None, "message": None, "details": None,
    }  # fmt: skip
