"""The control-character guard: every string of a JSON or form body and of the query string,
keys included; line breaks and tabs only in the fields that are multi-line by design."""

from __future__ import annotations

import json

import pytest

from safehold.textguard import Finding, has_control, scan, scan_query

JSON = "application/json"


@pytest.mark.parametrize(
    "text", ["Ada\x00", "Ada\r\nBcc: x@example.com", "A\tda", "\x1b[31mAda", "Ada\x7f", "Ada\x85"]
)
def test_every_c0_c1_and_del_is_a_control(text: str) -> None:
    assert has_control(text)


def test_multi_line_fields_take_line_breaks_and_tabs_only() -> None:
    assert not has_control("Hello {{ name }},\r\n\tsee you\n", multi_line=True)
    assert has_control("Hello\x00", multi_line=True)
    assert has_control("Hello\x1b", multi_line=True)
    assert not has_control("Zoë Ünal — 東京 🙂")  # letters of any script are not controls


@pytest.mark.parametrize(
    ("body", "location"),
    [
        ({"name": "Ada\nQuill"}, "body.name"),
        ({"address": {"street": "1 Example Row\x00"}}, "body.address.street"),
        ({"events": [{"properties": {"q": "a\u0085b"}}]}, "body.events.0.properties.q"),
        ({"na\tme": "Ada"}, "body"),  # a key: its path is its parent's, the key is not echoed
        ({"subject": "Hi\r\nBcc: x@example.com", "text": "line\nline"}, "body.subject"),
    ],
)
def test_a_control_character_is_found_with_its_field(body: object, location: str) -> None:
    assert scan(json.dumps(body).encode(), JSON, "/v1/messages") == Finding(location)


def test_the_multi_line_fields_are_those_of_their_route_only() -> None:
    body = json.dumps({"text": "Hello,\n\nbye", "html": "<p>\n</p>"}).encode()
    assert scan(body, JSON, "/v1/messages") is None
    assert (
        scan(json.dumps({"source": "version: 1\n"}).encode(), JSON, "/v1/policy/versions") is None
    )
    assert scan(body, JSON, "/v1/subjects") == Finding("body.text")
    nested = json.dumps({"x": {"text": "a\nb"}}).encode()  # only top-level fields
    assert scan(nested, JSON, "/v1/messages") == Finding("body.x.text")


def test_forms_and_queries_are_scanned_decoded() -> None:
    form = "application/x-www-form-urlencoded"
    assert scan(b"name=Ada%0D%0AQuill&email=a%40example.com", form, "/me/details") == Finding(
        "body.name"
    )
    assert scan(b"name=Ada+Quill", form, "/me/details") is None
    assert scan_query(b"purpose=service_provision&reference=Case%0042") == Finding(
        "query.reference"
    )
    assert scan_query(b"purpose=service_provision") is None


def test_plain_json_is_not_parsed_and_unparsable_json_is_left_to_the_app() -> None:
    assert scan(b'{"name": "Ada Quill"}', JSON, "/v1/subjects") is None
    assert scan(b'{"name": "Ada\\n', JSON, "/v1/subjects") is None  # not JSON: the app says so
    assert scan(b"\x01\x02", "application/octet-stream", "/v1/subjects") is None
