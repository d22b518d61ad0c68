from __future__ import annotations

import csv
import io
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response

from safehold.access import service as access
from safehold.access.models import ApiKey
from safehold.comms import service as comms
from safehold.deps import ActorDep, RuntimeDep, SessionDep, require_scope
from safehold.notices import reading, rules, service, withdrawal
from safehold.notices.announce import announce
from safehold.notices.models import PolicyVersion, PolicyWithdrawal
from safehold.notices.schemas import (
    AcceptanceOut,
    AcceptIn,
    ActivityIn,
    ChangeOut,
    DiffOut,
    PublishIn,
    StandingOut,
    SubjectPolicyOut,
    VersionDetail,
    VersionOut,
    WithdrawalOut,
)
from safehold.policy import parse_policy
from safehold.runtime import Runtime
from safehold.subjects import service as subjects

router = APIRouter(prefix="/v1/policy", tags=["policy versions"])
people_router = APIRouter(prefix="/v1/subjects", tags=["policy versions"])
PolicyAdmin = Annotated[ApiKey, Depends(require_scope("policy:admin"))]
Writer = Annotated[ApiKey, Depends(require_scope("subjects:write"))]
Reader = Annotated[ApiKey, Depends(require_scope("subjects:read"))]


def version_out(
    runtime: Runtime, v: PolicyVersion, withdrawn: PolicyWithdrawal | None = None
) -> VersionOut:
    current = runtime.book.in_force(runtime.clock.now())
    return VersionOut(
        withdrawn_at=withdrawn.withdrawn_at if withdrawn else None,
        version=v.seq, label=v.label, content_hash=v.content_hash, change_class=v.change_class,
        effective_at=v.effective_at, published_at=v.published_at,
        in_force=current is not None and current.facts.seq == v.seq,
        changes=[ChangeOut(**c) for c in v.changes], needs_acceptance=v.needs_acceptance,
    )  # fmt: skip


@router.get("/versions", summary="Every published version, oldest first")
def list_versions(session: SessionDep, runtime: RuntimeDep) -> list[VersionOut]:
    withdrawn = service.withdrawals(session)
    return [version_out(runtime, v, withdrawn.get(v.seq)) for v in service.versions(session)]


@router.get("/versions/{version}", summary="One version: its rules and its posted text")
def get_version(
    version: Annotated[int, Path(ge=1, le=rules.MAX_VERSION)], session: SessionDep,
    runtime: RuntimeDep,
) -> VersionDetail:  # fmt: skip
    v = service.get(session, version)
    policy = parse_policy(v.source, v.label)
    return VersionDetail(
        **version_out(runtime, v, service.withdrawals(session).get(v.seq)).model_dump(),
        rules=policy.model_dump(mode="json"),
        text_markdown=v.rendered_md,
    )


@router.get("/diff", summary="The rule changes and the text diff between two versions")
def diff(
    session: SessionDep,
    from_: Annotated[int, Query(alias="from", ge=1, le=rules.MAX_VERSION)],
    to: Annotated[int, Query(ge=1, le=rules.MAX_VERSION)],
) -> DiffOut:
    return service.compare(session, from_, to)


@router.post("/versions", status_code=201, summary="Publish a new version")
def publish(
    body: PublishIn, session: SessionDep, runtime: RuntimeDep, _key: PolicyAdmin,
    actor: ActorDep,
) -> VersionOut:  # fmt: skip
    published = service.publish(
        session, source=body.source, source_name="the submitted policy",
        effective_at=body.effective_at, requested_class=body.change_class,
        clock=runtime.clock, actor=actor, site=runtime.settings.base_url,
    )  # fmt: skip
    if published.previous is not None:  # the first version has nobody to tell yet
        announce(session, comms.context(runtime), published.version, actor=actor)
    session.commit()
    runtime.book.load(session)
    return version_out(runtime, published.version)


@router.post("/versions/{version}/withdrawal", summary="Withdraw a version before it takes effect")
def withdraw(
    version: Annotated[int, Path(ge=1, le=rules.MAX_VERSION)], session: SessionDep,
    runtime: RuntimeDep, _key: PolicyAdmin, actor: ActorDep,
) -> WithdrawalOut:  # fmt: skip
    """The newest version, at least a minute before its date: it never takes effect; its
    unsent change notices are stopped and the people it reached get one note (decision
    0034). 409 ``policy_version_withdrawn`` or ``policy_version_not_withdrawable``."""
    row = withdrawal.withdraw(session, comms.context(runtime), version, actor=actor)
    session.commit()
    runtime.book.load(session)
    return WithdrawalOut.model_validate(row)


# ``?format=csv`` answers the same rows as CSV: declared, so clients and fuzzing expect it.
ACCEPTANCES_AS_CSV: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
}


@router.get(
    "/acceptances", summary="Who accepted a version, who was notified, who not yet",
    response_model=list[StandingOut], responses=ACCEPTANCES_AS_CSV,
)  # fmt: skip
def acceptances(
    session: SessionDep,
    _key: PolicyAdmin,
    version: Annotated[int, Query(ge=1, le=rules.MAX_VERSION)],
    status: Literal["accepted", "notified", "pending"] | None = None,
    format: Literal["json", "csv"] = "json",
) -> Response:
    rows = [s for s in service.standings(session, version) if status in (None, s.status)]
    items = [StandingOut(subject_id=s.subject_id, status=s.status, accepted_version=s.accepted_seq,
                         how=s.how, at=s.at) for s in rows]  # fmt: skip
    if format == "json":
        body = "[" + ",".join(i.model_dump_json() for i in items) + "]"
        return Response(body, media_type="application/json")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["subject_id", "status", "accepted_version", "how", "at"])
    for i in items:
        writer.writerow([i.subject_id, i.status, i.accepted_version, i.how or "",
                         i.at.isoformat() if i.at else ""])  # fmt: skip
    return Response(out.getvalue(), media_type="text/csv")


@people_router.post("/{subject_id}/policy-acceptance", summary="The person accepts explicitly")
def accept(
    subject_id: uuid.UUID, body: AcceptIn, session: SessionDep, runtime: RuntimeDep,
    key: Writer, actor: ActorDep,
) -> SubjectPolicyOut:  # fmt: skip
    access.require_purpose(key, subjects.WRITE_PURPOSE, declared=runtime.policy.purpose_ids)
    subject = subjects.get(session, subject_id)
    service.accept(session, runtime.book, subject, channel=body.channel, clock=runtime.clock,
                   actor=actor, seq=body.version)  # fmt: skip
    session.commit()
    return service.standing_of(session, runtime.book, subject_id, runtime.clock.now())


@people_router.post("/{subject_id}/activity", summary="The person used the service")
def activity(
    subject_id: uuid.UUID, body: ActivityIn, session: SessionDep, runtime: RuntimeDep,
    key: Writer, actor: ActorDep,
) -> SubjectPolicyOut:  # fmt: skip
    access.require_purpose(key, subjects.WRITE_PURPOSE, declared=runtime.policy.purpose_ids)
    subject = subjects.get(session, subject_id)
    service.note_activity(session, runtime.book, subject, channel=body.channel,
                          clock=runtime.clock, actor=actor)  # fmt: skip
    session.commit()
    return service.standing_of(session, runtime.book, subject_id, runtime.clock.now())


@people_router.get("/{subject_id}/policy-acceptance", summary="The person's acceptance records")
def standing(
    subject_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep, key: Reader,
    actor: ActorDep, purpose: Annotated[str, Query(max_length=80, description="Why they are read")],
) -> SubjectPolicyOut:  # fmt: skip
    """Read as the person's ``usage.action`` data for ``purpose`` (decision 0018)."""
    access.require_purpose(key, purpose, declared=runtime.policy.purpose_ids)
    found = reading.standing_for(
        session, runtime.book, runtime.policy, subject_id, purpose=purpose, actor=actor,
        clock=runtime.clock,
    )  # fmt: skip
    session.commit()  # the read's audit entry
    return found


__all__ = ["AcceptanceOut", "people_router", "router", "rules"]
