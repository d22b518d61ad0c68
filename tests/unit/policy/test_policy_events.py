"""The policy's `events` section: allowed event names and properties, the login and logout
events, and whole IP addresses only for a declared security purpose with a short period —
validated with line numbers, classified by the differ, and rendered on the public page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from safehold.policy import ChangeClass, Policy, PolicyIssue, diff_policies, parse_policy
from safehold.policy.render import render_markdown
from tests.unit.policy.conftest import DEFAULT_POLICY_PATH

Issues = Callable[[str], list[PolicyIssue]]
LineOf = Callable[[str, str], int]
Edit = Callable[[Policy, Callable[[dict[str, Any]], None]], Policy]
MATERIAL, MINOR = ChangeClass.MATERIAL, ChangeClass.MINOR

SECURITY_PURPOSE = """\
  - id: security
    label: Security
    description: Detecting account takeover and abuse.
    lawful_basis: legitimate_interests
    interest: Keeping accounts safe.
    objectable: true
    categories: [network.ip]
"""
FULL_IP = """\
events:
  ip:
    mode: full
    full: {purpose: security, period: P7D}
"""


@pytest.fixture(scope="module")
def default_text() -> str:
    return DEFAULT_POLICY_PATH.read_text(encoding="utf-8")


def with_security_purpose(text: str) -> str:
    return text.replace(
        "\n# The seed's sharing rule", f"{SECURITY_PURPOSE}\n# The seed's sharing rule"
    )


def with_ip(text: str, block: str) -> str:
    start = text.index("events:\n  ip:\n")
    end = text.index("  user_agent: coarse")
    return text[:start] + block + text[end:]


def test_the_default_policy_declares_the_iptv_events(default_policy: Policy) -> None:
    events = default_policy.events
    assert events.login_event == "login"
    assert events.logout_event == "logout"
    assert events.category_of("channel.play") == "usage.action"
    assert events.category_of("login") == "usage.login"
    assert events.category_of("not.declared") is None
    search = events.kind("guide.search")
    assert search is not None
    assert search.personal == ("query",)


def test_without_names_every_event_is_allowed_in_the_default_categories(
    default_policy: Policy, edited: Edit
) -> None:
    policy = edited(default_policy, lambda d: d["events"].update(names=[]))
    assert policy.events.category_of("anything.at_all") == "usage.action"
    assert policy.events.category_of("logout") == "usage.login"


def test_whole_ips_for_a_security_purpose_are_valid_and_rendered(default_text: str) -> None:
    text = with_ip(with_security_purpose(default_text), FULL_IP)
    policy = parse_policy(text, "policies/test.yaml")
    assert policy.events.ip.full is not None
    page = render_markdown(policy)
    assert "For Security only, we keep whole IP addresses, for 7 days" in page
    assert "whole IP addresses" not in render_markdown(parse_policy(default_text, "d.yaml"))


MISTAKES = {
    "whole IPs without purpose": (
        lambda t: with_ip(t, "events:\n  ip:\n    mode: full\n"),
        "events.ip.mode",
        "mode: full",
        "without a declared purpose",
    ),
    "whole IPs for an undeclared purpose": (
        lambda t: with_ip(t, FULL_IP.replace("security", "securty")),
        "events.ip.full.purpose",
        "securty",
        "unknown purpose 'securty'",
    ),
    "whole IPs for a purpose without IPs": (
        lambda t: with_ip(t, FULL_IP.replace("security", "platform_improvement")),
        "events.ip.full.purpose",
        "platform_improvement, period",
        "uses no network category",
    ),
    "whole IPs kept long": (
        lambda t: with_ip(with_security_purpose(t), FULL_IP.replace("P7D", "P45D")),
        "events.ip.full.period",
        "P45D",
        "is not short",
    ),
    "full set while truncating": (
        lambda t: with_ip(
            with_security_purpose(t), FULL_IP.replace("mode: full", "mode: truncate")
        ),
        "events.ip.full",
        "full: {purpose",
        "`full` is set",
    ),
    "event name twice": (
        lambda t: t.replace(
            "    - name: vod.play\n", "    - name: channel.play  # again\n", 1
        ),
        "events.names[4].name",
        "channel.play  # again",
        "declared twice",
    ),
    "event of an unknown category": (
        lambda t: t.replace("      category: usage.action\n      label: App opened",
                            "      category: usage.clicks\n      label: App opened"),
        "events.names[2].category",
        "usage.clicks",
        "unknown category 'usage.clicks'",
    ),
    "event recording device data": (
        lambda t: t.replace("      category: usage.action\n      label: App opened",
                            "      category: device.info\n      label: App opened"),
        "events.names[2].category",
        "category: device.info",
        "not usage data",
    ),
    "property both plain and personal": (
        lambda t: t.replace("dimensions: [results]", "dimensions: [results, query]"),
        "events.names[6].personal",
        "personal: [query]",
        "both a dimension and personal",
    ),
    "login event not declared": (
        lambda t: t.replace("login_event: login ", "login_event: sign_in "),
        "events.login_event",
        "login_event: sign_in",
        "is not among the declared event names",
    ),
    "logout in another category": (
        lambda t: t.replace("{name: logout, category: usage.login",
                            "{name: logout, category: usage.action"),
        "events.logout_event",
        "logout_event: logout",
        "not the login event's category",
    ),
    "another event in the login history": (
        lambda t: t.replace("      category: usage.action\n      label: App opened",
                            "      category: usage.login\n      label: App opened"),
        "events.names[2].category",
        "category: usage.login\n      label: App opened".splitlines()[0] + "  # x",
        "the login history category",
    ),
    "personal properties on sign-in": (
        lambda t: t.replace("label: Signed in, dimensions: [method]}",
                            "label: Signed in, dimensions: [method], personal: [note]}"),
        "events.names[0].personal",
        "personal: [note]",
        "declares personal properties",
    ),
    "login and logout the same": (
        lambda t: t.replace("logout_event: logout", "logout_event: login"),
        "events.logout_event",
        "logout_event: login",
        "both the login and the logout event",
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", MISTAKES)
def test_event_mistakes_are_reported_at_their_line(
    name: str, default_text: str, issues_for: Issues, line_of: LineOf
) -> None:
    edit, location, needle, message = MISTAKES[name]
    text = edit(default_text)
    if name == "another event in the login history":  # make the needle line unique
        text = text.replace(
            "      category: usage.login\n      label: App opened",
            "      category: usage.login  # x\n      label: App opened",
        )
    assert text != default_text
    issues = issues_for(text)
    matching = [i for i in issues if i.location == location and message in i.message]
    assert matching, f"no {message!r} at {location}; got {[str(i) for i in issues]}"
    assert matching[0].fix
    assert matching[0].line == line_of(text, needle)


def _kind(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(k for k in data["events"]["names"] if k["name"] == name)


def _security(data: dict[str, Any]) -> None:
    data["purposes"].append(
        {
            "id": "security",
            "label": "Security",
            "description": "Abuse detection.",
            "lawful_basis": "legitimate_interests",
            "interest": "Safe accounts.",
            "objectable": True,
            "categories": ["network.ip"],
        }
    )


def _full(period: str) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        _security(data)
        data["events"]["ip"].update(mode="full", full={"purpose": "security", "period": period})

    return change


DIFFS: dict[str, tuple[Callable[[dict[str, Any]], None], str, str, ChangeClass]] = {
    "whole IPs kept": (_full("P7D"), "events.ip.mode_changed", "events.ip", MATERIAL),
    "new event name": (
        lambda d: d["events"]["names"].append(
            {"name": "epg.remind", "category": "usage.action", "dimensions": ["channel_id"]}
        ),
        "events.name_added",
        "epg.remind",
        MATERIAL,
    ),
    "event name removed": (
        lambda d: d["events"]["names"].remove(_kind(d, "vod.play")),
        "events.name_removed",
        "vod.play",
        MINOR,
    ),
    "new property": (
        lambda d: _kind(d, "channel.play")["dimensions"].append("audio_language"),
        "events.properties_added",
        "channel.play",
        MATERIAL,
    ),
    "property removed": (
        lambda d: _kind(d, "channel.play")["dimensions"].remove("player"),
        "events.properties_removed",
        "channel.play",
        MINOR,
    ),
    "personal property kept in plain": (
        lambda d: _kind(d, "guide.search").update(dimensions=["results", "query"], personal=[]),
        "events.properties_unencrypted",
        "guide.search",
        MATERIAL,
    ),
    "dimension now encrypted": (
        lambda d: _kind(d, "guide.browse").update(dimensions=["page"], personal=["section"]),
        "events.properties_encrypted",
        "guide.browse",
        MINOR,
    ),
    "login event renamed": (
        lambda d: (
            d["events"].update(login_event="sign_in"),
            _kind(d, "login").update(name="sign_in"),
        ),
        "events.changed",
        "events.login_event",
        MATERIAL,
    ),
    "every name allowed": (
        lambda d: d["events"].update(names=[]),
        "events.names_removed",
        "events.names",
        MATERIAL,
    ),
}


@pytest.mark.parametrize("name", DIFFS)
def test_event_changes_are_classified(name: str, default_policy: Policy, edited: Edit) -> None:
    change, kind, subject, expected = DIFFS[name]
    result = diff_policies(default_policy, edited(default_policy, change))
    found = [c for c in result.changes if c.kind == kind and c.subject == subject]
    assert found, (
        f"expected {kind} on {subject}; got {[(c.kind, c.subject) for c in result.changes]}"
    )
    assert found[0].change_class is expected
    assert result.change_class is expected


def test_whole_ips_kept_longer_is_material_and_shorter_minor(
    default_policy: Policy, edited: Edit
) -> None:
    week = edited(default_policy, _full("P7D"))
    fortnight = edited(default_policy, _full("P14D"))
    longer = diff_policies(week, fortnight)
    assert [(c.kind, c.change_class) for c in longer.changes] == [
        ("events.ip.full.period_extended", MATERIAL)
    ]
    shorter = diff_policies(fortnight, week)
    assert [(c.kind, c.change_class) for c in shorter.changes] == [
        ("events.ip.full.period_shortened", MINOR)
    ]
    assert diff_policies(week, default_policy).change_class is MINOR  # back to truncation
