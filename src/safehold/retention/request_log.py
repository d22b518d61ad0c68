"""Sweep 4 of the retention run: the request log. An answered data-subject request (date,
kind, channel, response date, outcome, refusal reason) is the controller's proof of the answer
for :data:`safehold.requests.rules.REQUEST_LOG_RETENTION` (24 months) after its response, then
it goes, in batches, with its internal notes and reminders (decision 0040). Open requests
have no response date and are never touched."""

from __future__ import annotations

from sqlalchemy import delete, select

from safehold.db import transaction
from safehold.events import rules as event_rules
from safehold.requests import ownership
from safehold.requests import rules as request_rules
from safehold.requests.models import DataRequest
from safehold.retention import rules
from safehold.retention.common import Env, audit_run, count_rows

CATEGORY = "request_log"  # not a policy category: the controller's own record of answers


def sweep_request_log(env: Env) -> None:
    line = env.report.line(CATEGORY, CATEGORY, "delete")
    cutoff = event_rules.retention_cutoff(env.now, request_rules.REQUEST_LOG_RETENTION)
    due = select(DataRequest.subject_id, DataRequest.id).where(
        DataRequest.responded_at.isnot(None), DataRequest.responded_at <= cutoff
    )
    if env.dry_run:
        with env.sessions() as session:
            line.deleted += count_rows(session, due)
        return
    while True:
        with transaction(env.sessions) as session:
            found = session.execute(due.order_by(DataRequest.id).limit(rules.BATCH))
            keys = [(subject_id, request_id) for subject_id, request_id in found]
            if not keys:
                return
            ownership.forget(session, keys)  # their notes and reminders
            ids = [request_id for _subject, request_id in keys]
            session.execute(delete(DataRequest).where(DataRequest.id.in_(ids)))
            line.deleted += len(ids)
            audit_run(session, env, "retention.request_log.delete", None, [])
