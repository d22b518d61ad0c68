"""Asking for a sign-in code and typing wrong codes look the same whether an account uses
the address or not (security review F5, decision 0019): the request writes the same rows
with the same statements, and wrong codes get the same answers — when they run out and
when the attempt expires. Structural, not timed: the machine these run on is shared."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, event, func, select

from safehold.clock import FrozenClock
from safehold.comms.models import OutboxItem
from safehold.requests.errors import CodeAttemptsExhausted, CodeExpired, CodeInvalid
from safehold.requests.rules import CODE_MAX_ATTEMPTS
from safehold.runtime import Runtime
from safehold.web import rules
from safehold.web.auth import CODE_ERRORS
from safehold.web.models import SignInCode
from tests.e2e.test_sign_in import (
    EMAIL,
    ask_for_code,
    attempt_of,
    csrf_of,
    enter_code,
    handle_attempts,
    latest_code,
)
from tests.e2e.test_sign_in import person as _person_fixture

UNKNOWN = "nobody.here@example.com"
SAVEPOINT = re.compile(r"sa_savepoint_\d+")
FIELD_ERROR = re.compile(r'id="f-code-error" role="alert">([^<]+)<')
person = _person_fixture  # the account the sign-in tests use (its fixture, shared)


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements (their text, not their values) run on ``engine`` in the block; the
    test harness's numbered savepoints (each test runs in a transaction) lose their number."""
    seen: list[str] = []

    def record(
        _conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any, _many: bool
    ) -> None:
        seen.append(SAVEPOINT.sub("sa_savepoint", statement))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def answers(client: TestClient, attempt: str, code: str, times: int) -> list[tuple[int, str]]:
    """Status and the message next to the code field, for ``times`` tries of ``code``."""
    seen = []
    for _ in range(times):
        page: Response = enter_code(client, attempt, code)
        found = FIELD_ERROR.search(page.text)
        seen.append((page.status_code, found.group(1) if found else page.text[:200]))
    return seen


def test_asking_for_a_code_writes_the_same_rows_account_or_not(
    client: TestClient, runtime: Runtime, person: str
) -> None:
    ask_for_code(client, "first.request@example.com")  # first-use work stays out of the match
    runs: dict[str, tuple[int, list[str]]] = {}
    for email in (EMAIL, UNKNOWN):
        token = csrf_of(client, "/me/sign-in")
        with statements(runtime.engine) as seen:
            answer = client.post(
                "/me/sign-in", data={"email": email, "csrf_token": token}, follow_redirects=False
            )
        attempt_of(answer)
        runs[email] = (answer.status_code, seen)
    assert runs[EMAIL] == runs[UNKNOWN]
    status, seen = runs[EMAIL]
    assert status == 303
    writes = [s.split()[:3] for s in seen if s.split()[0] in {"INSERT", "UPDATE", "DELETE"}]
    assert writes == [["INSERT", "INTO", "web_sign_in_codes"]]  # one attempt row, nothing else
    # The worker then mails the account's code, and nothing for the unknown address.
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(OutboxItem)) == 0
    handle_attempts(runtime)
    with runtime.sessions() as session:
        mailed = session.scalars(select(OutboxItem.subject_id)).all()
        assert mailed == [uuid.UUID(person)]
        assert session.scalar(
            select(func.count()).where(SignInCode.address_index.is_not(None))
        ) == 0  # fmt: skip


@pytest.mark.parametrize("worker_ran", [True, False], ids=["code-mailed", "not-yet-handled"])
def test_wrong_codes_get_the_same_answers_until_they_run_out_account_or_not(
    client: TestClient, runtime: Runtime, person: str, worker_ran: bool
) -> None:
    known = attempt_of(ask_for_code(client))
    unknown = attempt_of(ask_for_code(client, UNKNOWN))
    wrong = "00000000"
    if worker_ran:
        right = latest_code(runtime, person)
        wrong = "00000000" if right != "00000000" else "11111111"
    seen_known = answers(client, known, wrong, CODE_MAX_ATTEMPTS + 2)
    seen_unknown = answers(client, unknown, wrong, CODE_MAX_ATTEMPTS + 2)
    assert seen_known == seen_unknown
    assert (
        seen_known
        == [(422, CODE_ERRORS[CodeInvalid])] * CODE_MAX_ATTEMPTS
        + [(422, CODE_ERRORS[CodeAttemptsExhausted])] * 2
    )


def test_an_expired_attempt_reads_the_same_account_or_not(
    client: TestClient, runtime: Runtime, person: str, clock: FrozenClock
) -> None:
    known = attempt_of(ask_for_code(client))
    unknown = attempt_of(ask_for_code(client, UNKNOWN))
    right = latest_code(runtime, person)
    wrong = "00000000" if right != "00000000" else "11111111"
    assert answers(client, known, wrong, 1) == answers(client, unknown, wrong, 1)
    clock.advance(rules.SIGN_IN_CODE_TTL + timedelta(seconds=1))
    expired = [(422, CODE_ERRORS[CodeExpired])] * 2
    assert answers(client, known, wrong, 2) == answers(client, unknown, wrong, 2) == expired
    assert answers(client, known, right, 1) == [(422, CODE_ERRORS[CodeExpired])]


def test_a_worker_that_comes_back_after_the_expiry_mails_nothing(
    client: TestClient, runtime: Runtime, person: str, clock: FrozenClock
) -> None:
    attempt_of(ask_for_code(client))
    clock.advance(rules.SIGN_IN_CODE_TTL)  # the worker was down all that time
    handle_attempts(runtime)
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(OutboxItem)) == 0
        row = session.scalars(select(SignInCode)).one()
        assert (row.subject_id, row.address_index, row.handled_at) == (None, None, clock.now())
