"""Loading policy files: the shipped default is valid, and every broken file becomes a list
of issues with file, line, location and a fix — never a traceback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from safehold.policy import Policy, PolicyFileError, PolicyIssue, check_policy, load_policy
from safehold.policy.document import LawfulBasis
from tests.unit.policy.bombs import ALIAS_BOMB

Issues = Callable[[str], list[PolicyIssue]]
LineOf = Callable[[str, str], int]


def test_default_policy_loads_with_zero_issues(default_policy: Policy) -> None:
    assert check_policy(default_policy) == []
    assert default_policy.policy.title == "Information We Collect Policy"
    assert set(default_policy.category_ids) >= {
        "account.name",
        "account.email",
        "account.phone",
        "account.address",
        "account.payment",
        "usage.login",
        "usage.action",
        "device.info",
        "network.ip",
    }
    assert default_policy.purpose_ids == (
        "service_provision",
        "platform_improvement",
        "communication.service",
        "communication.marketing",
        "legal_obligation",
    )


def test_default_policy_expresses_the_seed_choices(default_policy: Policy) -> None:
    marketing = default_policy.purpose("communication.marketing")
    assert marketing.is_marketing
    assert marketing.opt_out
    improvement = default_policy.purpose("platform_improvement")
    assert improvement.lawful_basis is LawfulBasis.LEGITIMATE_INTERESTS
    assert improvement.objectable
    assert improvement.aggregate_only
    assert default_policy.sharing.allowed_purposes == ("legal_obligation", "service_provision")
    assert default_policy.retention_rule_for("network.ip").period == "P30D"
    assert default_policy.retention_rule_for("usage.action").action == "aggregate_then_delete"
    assert default_policy.requests.deadline == "P1M"
    assert default_policy.events.ip.ipv4_prefix == 24
    assert default_policy.events.ip.ipv6_prefix == 48


def test_minimal_policy_is_valid(minimal_text: str) -> None:
    from safehold.policy import parse_policy

    assert parse_policy(minimal_text).category_ids[0] == "account.name"


def test_lookups_raise_key_error_for_undeclared_ids(default_policy: Policy) -> None:
    with pytest.raises(KeyError):
        default_policy.category("account.nmae")
    with pytest.raises(KeyError):
        default_policy.purpose("profiling")
    with pytest.raises(KeyError):
        default_policy.recipient("data_broker")
    with pytest.raises(KeyError):
        default_policy.retention_rule_for("account.nmae")


def test_issue_reads_as_file_line_location_message_fix() -> None:
    issue = PolicyIssue(
        "policies/x.yaml",
        42,
        "purposes[2].categories[0]",
        "unknown category 'account.nmae'",
        "use one of the declared categories (did you mean 'account.name'?)",
    )
    assert str(issue) == (
        "policies/x.yaml:42: purposes[2].categories[0]: unknown category 'account.nmae' "
        "— fix: use one of the declared categories (did you mean 'account.name'?)"
    )
    assert str(PolicyIssue("p.yaml", None, "", "policy file not found", "check the path")) == (
        "p.yaml: policy file not found — fix: check the path"
    )


def test_missing_file_is_an_issue_not_a_traceback(tmp_path: Path) -> None:
    with pytest.raises(PolicyFileError) as caught:
        load_policy(tmp_path / "absent.yaml")
    (issue,) = caught.value.issues
    assert issue.source.endswith("absent.yaml")
    assert "not found" in issue.message


def test_file_that_is_not_utf8_is_an_issue(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("schema_version: 1\ntitle: caf\xe9\n".encode("latin-1"))
    with pytest.raises(PolicyFileError) as caught:
        load_policy(path)
    assert "UTF-8" in caught.value.issues[0].message


def test_yaml_syntax_error_has_its_line(issues_for: Issues, minimal_text: str) -> None:
    text = minimal_text.replace("  title: Test Policy", "  title: [Test Policy")
    (issue,) = issues_for(text)
    assert issue.message.startswith("YAML syntax error")
    assert "started on line 3" in issue.message
    assert issue.line is not None
    assert issue.line > 3


def test_bad_indentation_is_reported_at_its_line(issues_for: Issues) -> None:
    (issue,) = issues_for("schema_version: 1\npolicy:\n  title: x\n - oops\n")
    assert issue.line == 4
    assert "indentation" in issue.fix


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", "empty"), ("- a\n- b\n", "a list, not a mapping"), ("just words\n", "a str")],
)
def test_top_level_must_be_a_mapping(issues_for: Issues, text: str, expected: str) -> None:
    (issue,) = issues_for(text)
    assert expected in issue.message
    assert "schema_version: 1" in issue.fix


def test_only_one_document_is_allowed(issues_for: Issues, minimal_text: str) -> None:
    (issue,) = issues_for(minimal_text + "---\nschema_version: 1\n")
    assert "single document" in issue.message


def test_python_tags_are_refused_by_the_safe_loader(issues_for: Issues) -> None:
    (issue,) = issues_for("schema_version: !!python/object/apply:os.system ['true']\n")
    assert issue.line == 1
    assert "YAML" in issue.message


def test_an_alias_bomb_is_refused_at_its_first_anchor(issues_for: Issues) -> None:
    (issue,) = issues_for(ALIAS_BOMB)
    assert issue.line == 1
    assert "anchors and aliases are not allowed" in issue.message
    assert "&x0" in issue.message
    assert "in full" in issue.fix


def test_an_alias_is_refused_at_its_line(
    issues_for: Issues, line_of: LineOf, minimal_text: str
) -> None:
    text = minimal_text.replace("  operator: Example Operator", "  operator: *operator")
    (issue,) = issues_for(text)
    assert issue.line == line_of(text, "*operator")
    assert "alias *operator" in issue.message


def test_an_anchor_alone_is_refused_at_its_line(
    issues_for: Issues, line_of: LineOf, minimal_text: str
) -> None:
    text = minimal_text.replace("  title: Test Policy", "  title: &title Test Policy")
    (issue,) = issues_for(text)
    assert issue.line == line_of(text, "&title")
    assert "anchor &title" in issue.message


def test_a_merge_key_is_refused(issues_for: Issues, minimal_text: str) -> None:
    text = minimal_text + "extra: &base {a: 1}\nmore:\n  <<: *base\n"
    issues = issues_for(text)
    assert [issue.message for issue in issues if "anchors and aliases" in issue.message]


def test_unknown_key_suggests_the_right_spelling(
    issues_for: Issues, line_of: LineOf, minimal_text: str
) -> None:
    text = minimal_text.replace("    lawful_basis: contract", "    lawfull_basis: contract")
    issues = issues_for(text)
    unknown = next(i for i in issues if i.location == "purposes[0].lawfull_basis")
    assert unknown.line == line_of(text, "lawfull_basis")
    assert unknown.message == "unknown key 'lawfull_basis'"
    assert "did you mean 'lawful_basis'?" in unknown.fix
    missing = next(i for i in issues if i.location == "purposes[0].lawful_basis")
    assert missing.message == "required key 'lawful_basis' is missing"
    assert missing.line == line_of(text, "- id: service_provision")


def test_wrong_enum_value_lists_the_choices(
    issues_for: Issues, line_of: LineOf, minimal_text: str
) -> None:
    text = minimal_text.replace("lawful_basis: contract", "lawful_basis: contrakt")
    (issue,) = issues_for(text)
    assert issue.location == "purposes[0].lawful_basis"
    assert issue.line == line_of(text, "contrakt")
    assert "'contrakt'" in issue.message
    assert "'legitimate_interests'" in issue.fix
    assert "did you mean 'contract'?" in issue.fix


def test_yaml_reading_a_country_as_boolean_tells_to_quote_it(
    issues_for: Issues, line_of: LineOf, minimal_text: str
) -> None:
    text = minimal_text.replace("    country: IE\n    agreement", "    country: NO\n    agreement")
    (issue,) = issues_for(text)
    assert issue.location == "recipients[0].country"
    assert issue.line == line_of(text, "country: NO")
    assert "yes/no" in issue.message
    assert "quotes" in issue.fix


def test_wrong_types_are_reported(issues_for: Issues, line_of: LineOf, minimal_text: str) -> None:
    text = minimal_text.replace("  k_anonymity: 10", "  k_anonymity: many").replace(
        "    categories: [account.name, account.payment]", "    categories: account.name"
    )
    issues = {i.location: i for i in issues_for(text)}
    assert issues["analytics.k_anonymity"].line == line_of(text, "k_anonymity")
    assert "'many'" in issues["analytics.k_anonymity"].message
    assert issues["purposes[3].categories"].message == "expected a list, got str"
    assert issues["purposes[3].categories"].line == line_of(text, "categories: account.name")


@pytest.mark.parametrize(
    ("period", "expected"),
    [
        ("P0D", "is zero"),
        ("-P30D", "must start with 'P'"),
        ("P1.5Y", "fractional"),
        ("30 days", "not an ISO 8601 duration"),
        ("PT0S", "is zero"),
    ],
)
def test_bad_durations_are_refused(
    issues_for: Issues, line_of: LineOf, minimal_text: str, period: str, expected: str
) -> None:
    text = minimal_text.replace("    period: P120D", f"    period: {period}")
    (issue,) = issues_for(text)
    assert issue.location == "retention[1].period"
    assert issue.line == line_of(text, f"period: {period}")
    assert expected in issue.message
    assert "P30D" in issue.fix


def test_bad_id_format_explains_the_convention(issues_for: Issues, minimal_text: str) -> None:
    text = minimal_text.replace("  - id: usage.login", "  - id: Usage Login")
    issues = issues_for(text)
    bad = next(i for i in issues if i.location == "categories[3].id")
    assert "'Usage Login'" in bad.message
    assert "lowercase" in bad.fix


def test_duplicate_yaml_keys_are_reported(
    issues_for: Issues, line_of: LineOf, minimal_text: str
) -> None:
    text = minimal_text.replace("  k_anonymity: 10", "  k_anonymity: 10\n  k_anonymity: 5")
    (issue,) = issues_for(text)
    assert issue.location == "analytics.k_anonymity"
    assert issue.line == line_of(text, "k_anonymity: 5")
    assert "appears twice" in issue.message


def test_all_schema_issues_are_reported_at_once(issues_for: Issues, minimal_text: str) -> None:
    text = (
        minimal_text.replace("lawful_basis: contract", "lawful_basis: contrakt")
        .replace("    country: IE\n    agreement", "    country: Ireland\n    agreement")
        .replace("  k_anonymity: 10", "  k_anonymity: 1")
        .replace("  operator: Example Operator", "  operater: Example Operator")
    )
    issues = issues_for(text)
    locations = [i.location for i in issues]
    assert {
        "purposes[0].lawful_basis",
        "recipients[0].country",
        "analytics.k_anonymity",
        "policy.operater",
        "policy.operator",
    } <= set(locations)
    lines = [i.line or 0 for i in issues]
    assert lines == sorted(lines)
    error_text = str(PolicyFileError(issues))
    assert error_text.startswith(f"policy file has {len(issues)} problems:")


def test_cross_check_issues_are_all_reported(
    issues_for: Issues, line_of: LineOf, minimal_text: str
) -> None:
    text = minimal_text.replace(
        "    categories: [account.name, account.payment]",
        "    categories: [account.nmae, account.paymnt]",
    )
    issues = issues_for(text)
    assert [i.location for i in issues[:2]] == [
        "purposes[3].categories[0]",
        "purposes[3].categories[1]",
    ]
    assert issues[0].line == issues[1].line == line_of(text, "account.nmae")
    assert str(issues[0]).startswith(
        f"policies/test.yaml:{issues[0].line}: purposes[3].categories[0]: "
        "unknown category 'account.nmae' — fix: use one of the declared categories "
        "(did you mean 'account.name'?)"
    )
