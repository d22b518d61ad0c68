from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from safehold.access import service as access
from safehold.access.models import ApiKey
from safehold.deps import RuntimeDep, require_scope
from safehold.policy.rules import SubjectState, content_hash, decide
from safehold.policy.schemas import ActivePolicy, DecisionOut, EvaluateIn, WithheldOut

router = APIRouter(prefix="/v1/policy", tags=["policy"])
PolicyReader = Annotated[ApiKey, Depends(require_scope("policy:read"))]


@router.get("", summary="The policy in force, as machine rules")
def active_policy(runtime: RuntimeDep) -> ActivePolicy:
    policy = runtime.policy
    return ActivePolicy(content_hash=content_hash(policy), policy=policy.model_dump(mode="json"))


@router.post("/evaluate", summary="Which categories a purpose may use for a person's state")
def evaluate(body: EvaluateIn, runtime: RuntimeDep, key: PolicyReader) -> DecisionOut:
    access.require_purpose(key, body.purpose, declared=runtime.policy.purpose_ids)
    state = SubjectState(
        account_status=body.state.account_status,
        opted_out=frozenset(body.state.opted_out),
        objected=frozenset(body.state.objected),
        consented=frozenset(body.state.consented),
        pending_acceptance=frozenset(body.state.pending_acceptance),
    )
    decision = decide(
        runtime.policy, body.purpose, body.categories, state, aggregate=body.aggregate
    )
    return DecisionOut(
        purpose=decision.purpose,
        refused=decision.refused,
        allowed=list(decision.allowed),
        withheld=[
            WithheldOut(category=w.category, rule=w.rule, message=w.message)
            for w in decision.withheld
        ],
        refused_rule=decision.refused_rule,
        refused_message=decision.refused_message,
    )
