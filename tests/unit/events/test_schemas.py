"""Reading a batch from its raw body: one pass when every event is valid, the envelope
alone (events left for the service to judge one by one) when some are not."""

from __future__ import annotations

import json
import uuid

import pytest
from pydantic import ValidationError

from safehold.events.schemas import BatchIn, EventIn, batch_components, read_batch

GOOD = {"event_id": str(uuid.uuid4()), "subject_id": str(uuid.uuid4()), "name": "app.open",
        "timestamp": "2026-03-02T09:25:00+00:00", "properties": {"screen": "home"},
        "context": {"user_agent": "Roku/DVP-12.0", "Sec-Whatever": "ignored"}}  # fmt: skip


def test_a_valid_batch_comes_out_with_its_events_validated() -> None:
    raw = json.dumps({"sent_at": "2026-03-02T09:30:00+00:00", "events": [GOOD, GOOD]}).encode()
    batch = read_batch(raw)
    assert all(isinstance(e, EventIn) for e in batch.events)
    assert batch.events[0].subject_id == uuid.UUID(GOOD["subject_id"])
    assert batch.sent_at is not None
    assert batch.sent_at.isoformat() == "2026-03-02T09:30:00+00:00"


def test_an_invalid_event_leaves_the_events_as_sent_for_the_service() -> None:
    bad = {**GOOD, "timestamp": "yesterday"}
    batch = read_batch(json.dumps({"events": [GOOD, bad]}).encode())
    assert batch.events == [GOOD, bad]  # the service says which one, with its reason


@pytest.mark.parametrize(
    "raw",
    [b"not json", b"[]", b'{"events": []}', b'{"events": "x"}', b'{"events": [{}], "x": 1}',
     b'{"events": [{"name": "app.open", "properties": {"q": "\\ud800"}}]}'],
)  # fmt: skip
def test_a_malformed_envelope_refuses_the_whole_batch(raw: bytes) -> None:
    with pytest.raises(ValidationError):
        read_batch(raw)


def test_the_documented_batch_names_its_events_type() -> None:
    components = batch_components()
    assert set(components) == {"BatchIn", "EventIn", "ContextIn"}
    assert "$defs" not in json.dumps(components)
    events = components["BatchIn"]["properties"]["events"]
    assert events["items"] == {"$ref": "#/components/schemas/EventIn"}
    assert set(components["BatchIn"]["properties"]) == set(BatchIn.model_fields)
    context = components["ContextIn"]
    assert set(context["properties"]) == {"user_agent", "ip", "client_hints"}
