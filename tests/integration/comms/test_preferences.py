"""Marketing choices as a history, the opt-out taking effect at once, and unsubscribe links:
genuine, repeated, forged and outdated."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from safehold.access.models import AuditEntry
from safehold.comms import preferences, rules, tokens
from safehold.comms.errors import UnsubscribeLinkInvalid, UnsubscribeLinkOutdated
from safehold.comms.models import MarketingChoice, OutboxItem
from safehold.db import transaction
from safehold.runtime import Runtime
from safehold.subjects import service as subjects
from tests.integration.comms.support import CRM, enqueue, register


def choose(runtime: Runtime, subject_id: uuid.UUID, choice: str, channel: str = "api") -> bool:
    with transaction(runtime.sessions) as session:
        person = subjects.get(session, subject_id)
        recorded = preferences.record_choice(
            session, subject=person, choice=choice, channel=channel, actor=CRM,
            policy_version="v1", clock=runtime.clock,
        )  # fmt: skip
        return recorded is not None


def history(runtime: Runtime, subject_id: uuid.UUID) -> list[tuple[str, str]]:
    with runtime.sessions() as session:
        return [(c.choice, c.channel) for c in preferences.history(session, subject_id)]


def token_for(runtime: Runtime, message_id: uuid.UUID, subject_id: uuid.UUID) -> str:
    with runtime.sessions() as session:
        item = session.scalars(
            select(OutboxItem).where(
                OutboxItem.message_id == message_id, OutboxItem.subject_id == subject_id
            )
        ).one()
    return tokens.make_token(tokens.derive_key(runtime.vault.provider.index_key()), item.id)


def unsubscribe(runtime: Runtime, token: str) -> bool:
    with transaction(runtime.sessions) as session:
        return preferences.unsubscribe(
            session, runtime.vault, token, channel="one_click", clock=runtime.clock,
            policy_version="v1",
        )  # fmt: skip


def test_choices_are_a_history_and_repeating_one_changes_nothing(runtime: Runtime) -> None:
    ada = register(runtime, "Ada Quillfeather", "ada@example.com")
    assert choose(runtime, ada, rules.OPTED_OUT, "privacy_center")
    assert not choose(runtime, ada, rules.OPTED_OUT)  # already in force
    assert choose(runtime, ada, rules.OPTED_IN, "reply")
    assert choose(runtime, ada, rules.OPTED_OUT)  # all at the same frozen instant
    assert history(runtime, ada) == [
        ("opted_in", "sign_up"),
        ("opted_out", "privacy_center"),
        ("opted_in", "reply"),
        ("opted_out", "api"),
    ]
    with runtime.sessions() as session:
        assert preferences.current_choice(session, ada) == rules.OPTED_OUT
        person = subjects.get(session, ada)
        assert subjects.state_of(session, person).opted_out == {rules.MARKETING}
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.subject_id == ada).order_by(AuditEntry.seq)
        ).all()
    assert actions[1:] == [
        "marketing.opted_out.privacy_center",
        "marketing.opted_in.reply",
        "marketing.opted_out.api",
    ]


def test_an_opt_out_stops_pending_marketing_at_once_but_not_service_mail(runtime: Runtime) -> None:
    ada = register(runtime, "Ada Quillfeather", "ada@example.com")
    campaign = enqueue(runtime, "marketing", [ada])
    update = enqueue(runtime, "service_update", [ada])
    choose(runtime, ada, rules.OPTED_OUT)
    with runtime.sessions() as session:
        rows = {r.message_id: (r.status, r.reason) for r in session.scalars(select(OutboxItem))}
    assert rows == {
        campaign: ("skipped", "purposes.communication.marketing.opt_out"),
        update: ("queued", None),
    }


def test_a_genuine_link_opts_out_once_and_says_which_e_mail_it_came_from(runtime: Runtime) -> None:
    ada = register(runtime, "Ada Quillfeather", "ada@example.com")
    message_id = enqueue(runtime, "marketing", [ada])
    token = token_for(runtime, message_id, ada)
    assert unsubscribe(runtime, token)
    assert not unsubscribe(runtime, token)  # idempotent: nothing written the second time
    with runtime.sessions() as session:
        latest = preferences.latest(session, ada)
        count = session.scalar(
            select(func.count())
            .select_from(MarketingChoice)
            .where(MarketingChoice.subject_id == ada)
        )
    assert latest is not None
    assert count == 2
    assert (latest.choice, latest.channel, latest.actor) == (
        "opted_out",
        "one_click",
        f"subject:{ada}",
    )
    assert latest.reference == str(tokens.read_token(
        tokens.derive_key(runtime.vault.provider.index_key()), token
    ))  # fmt: skip


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # altered MAC
        lambda t: t.split(".")[0],  # MAC missing
        lambda _t: tokens.make_token(b"\x00" * 32, uuid.uuid4()),  # made with another key
        lambda t: t + "=",  # padded
        lambda t: "../" + t,
    ],
)
def test_a_forged_link_is_refused_and_changes_nothing(runtime: Runtime, mangle: object) -> None:
    ada = register(runtime, "Ada Quillfeather", "ada@example.com")
    message_id = enqueue(runtime, "marketing", [ada])
    forged = mangle(token_for(runtime, message_id, ada))  # type: ignore[operator]
    with pytest.raises(UnsubscribeLinkInvalid):
        unsubscribe(runtime, forged)
    assert history(runtime, ada) == [("opted_in", "sign_up")]


def test_a_link_in_a_service_e_mail_does_not_exist(runtime: Runtime) -> None:
    ada = register(runtime, "Ada Quillfeather", "ada@example.com")
    message_id = enqueue(runtime, "service_update", [ada])
    with pytest.raises(UnsubscribeLinkInvalid):
        unsubscribe(runtime, token_for(runtime, message_id, ada))


def test_an_old_link_cannot_undo_a_newer_choice(runtime: Runtime) -> None:
    ada = register(runtime, "Ada Quillfeather", "ada@example.com")
    message_id = enqueue(runtime, "marketing", [ada])
    token = token_for(runtime, message_id, ada)
    assert unsubscribe(runtime, token)
    runtime.clock.advance(timedelta(days=3))  # type: ignore[attr-defined]
    assert choose(runtime, ada, rules.OPTED_IN, "privacy_center")  # changed her mind later
    with pytest.raises(UnsubscribeLinkOutdated):
        unsubscribe(runtime, token)  # the same link, replayed
    assert history(runtime, ada)[-1] == ("opted_in", "privacy_center")
    newer = enqueue(runtime, "marketing", [ada])
    assert unsubscribe(runtime, token_for(runtime, newer, ada))  # a newer e-mail's link works
