"""Reading what an erasure kept (issue 17, item 6).

An erasure keeps some data under a legal basis (a retention exception that survives erasure,
or a legal hold). That data exists for that basis only: a purpose whose lawful basis is
``legal_obligation`` may read it — with a reference saying which obligation it answers,
recorded beside the audit entry — and every other purpose still finds the person gone (410
``subject_erased``). Which categories remain readable is the policy decision's own
(``policy.rules.decide``: an erased person's categories are limited to those kept).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy.orm import Session

from safehold.access.rules import Actor
from safehold.clock import Clock
from safehold.policy.document import LawfulBasis, Policy
from safehold.subjects.errors import KeptReadNeedsReference, SubjectErased
from safehold.subjects.models import KeptRead

ACTION = "subject.read.kept"
MAX_REFERENCE = 200


def check(policy: Policy, purpose: str, reference: str | None) -> str:
    """The reference (stripped) when ``purpose`` may read an erased person's kept data;
    otherwise the erasure answers (410), or the missing reference does (422)."""
    legal = purpose in policy.purpose_ids and (
        policy.purpose(purpose).lawful_basis is LawfulBasis.LEGAL_OBLIGATION
    )
    if not legal:
        raise SubjectErased(
            "this person's data has been erased; what was kept under a legal obligation can "
            "be read only for a purpose with that lawful basis",
            details={},
        )
    text = " ".join((reference or "").split())
    if not text or len(text) > MAX_REFERENCE:
        raise KeptReadNeedsReference(
            f"reading data kept after an erasure needs a reference (1 to {MAX_REFERENCE} "
            "characters): the case or the request it answers",
            details={"field": "reference"},
        )
    return text


def record(
    session: Session, clock: Clock, actor: Actor, subject_id: uuid.UUID, purpose: str,
    categories: Iterable[str], reference: str,
) -> KeptRead:  # fmt: skip
    row = KeptRead(
        id=uuid.uuid4(), at=clock.now(), subject_id=subject_id, purpose=purpose,
        categories=list(categories), reference=reference, actor=str(actor)[:120],
    )  # fmt: skip
    session.add(row)
    return row
