"""Message templates: sandboxed, checked at submission with the part and line of a problem."""

from __future__ import annotations

import pytest

from safehold.comms import rules, templating
from safehold.comms.errors import TemplateInvalid


def compile_(purpose: str = rules.SERVICE, *, subject: str = "Hi", text: str = "Body",
             html: str | None = None) -> templating.CompiledMessage:  # fmt: skip
    return templating.compile_message(purpose, subject=subject, text=text, html_source=html)


def problem(**kwargs: str) -> dict[str, object]:
    with pytest.raises(TemplateInvalid) as caught:
        compile_(**kwargs)  # type: ignore[arg-type]
    return caught.value.details


def test_a_syntax_error_is_refused_with_its_part_and_line() -> None:
    details = problem(text="Hello\n\n{% for x in %}\n")
    assert (details["part"], details["line"]) == ("text", 3)


def test_an_unknown_variable_is_refused_with_its_line_and_the_choices() -> None:
    details = problem(html="<p>\n{{ name }}</p>\n<p>{{ password }}</p>")
    assert (details["part"], details["line"], details["variable"]) == ("html", 3, "password")
    assert "name" in str(details["problem"])
    assert "operator" in str(details["problem"])


def test_variables_set_inside_the_template_are_fine() -> None:
    compile_(text="{% set greeting = 'Hello' %}{% for n in range(3) %}{{ greeting }}{% endfor %}")


def test_an_unsubscribe_link_only_exists_in_marketing() -> None:
    assert problem(text="{{ unsubscribe_url }}")["variable"] == "unsubscribe_url"
    compile_(rules.MARKETING, text="{{ unsubscribe_url }}")


def test_the_sandbox_refuses_reaching_into_python_at_submission() -> None:
    details = problem(text="one\n{{ name.__class__.__mro__ }}")
    assert (details["part"], details["line"]) == ("text", 2)
    assert "unsafe" in str(details["problem"])


def test_an_unknown_filter_and_a_runtime_error_are_refused_with_their_line() -> None:
    assert problem(subject="{{ name | shout }}")["line"] == 1
    assert problem(text="a\nb\n{{ 1 / 0 }}")["line"] == 3


def test_loops_are_bounded() -> None:
    assert "limited" in str(problem(text="{% for i in range(5000) %}.{% endfor %}")["problem"])
    nested = "{% for i in range(1000) %}{% for j in range(1000) %}xx{% endfor %}{% endfor %}"
    assert "longer than" in str(problem(text=nested)["problem"])


def test_only_the_personal_fields_a_template_uses_are_read() -> None:
    assert compile_(text="Hello").personal_fields == {"account.email": "email"}
    assert compile_(subject="Hi {{ name }}").personal_fields == {
        "account.email": "email",
        "account.name": "full_name",
    }


def test_html_is_escaped_text_is_not_and_the_subject_is_one_line() -> None:
    message = compile_(subject="Hi\r\nBcc: x@example.net {{ name }}", text="{{ name }}",
                       html="<p>{{ name }}</p>")  # fmt: skip
    rendered = message.render({"name": "<b>Ada</b>"})
    assert rendered.text == "<b>Ada</b>"
    assert rendered.html == "<p>&lt;b&gt;Ada&lt;/b&gt;</p>"
    assert rendered.subject == "Hi Bcc: x@example.net <b>Ada</b>"
    assert "\n" not in rendered.subject
    assert "\r" not in rendered.subject


def test_a_failure_at_render_time_names_the_part_and_line_but_no_value() -> None:
    message = compile_(text="x\n{{ 10 / (name|length - 5) }}")
    with pytest.raises(templating.RenderFailed) as caught:
        message.render({"name": "Ann Q"})
    assert (caught.value.part, caught.value.line) == ("text", 2)
    assert "Ann" not in str(caught.value)


def test_the_default_html_part_is_the_escaped_text_in_paragraphs() -> None:
    html = templating.text_to_html("Dear <Ada>,\nhello.\n\nBye & thanks")
    assert "<p>Dear &lt;Ada&gt;,<br>\nhello.</p>" in html
    assert "<p>Bye &amp; thanks</p>" in html
