"""Promises about what was done with people's data, read off the records: marketing after an
opt-out, disclosures the policy did not allow, requests answered late, deadlines extended too
late or without telling the person."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, or_, select

from safehold.comms import rules as comms_rules
from safehold.comms.models import MarketingChoice, OutboxItem
from safehold.promises.rules import MAX_EXAMPLES, Check, Context, Finding
from safehold.requests import rules as request_rules
from safehold.requests.models import DataRequest
from safehold.sharing import rules as sharing_rules
from safehold.sharing.models import Disclosure, DisclosureSubject, ServiceDelivery

BATCH = 1000


def marketing_after_opt_out(ctx: Context) -> Finding:
    """A marketing e-mail handed to the mail server while the person's choice in force (the
    newest one made before the sending) was an opt-out."""
    marketing = {p.id for p in ctx.policy.purposes if p.is_marketing} | {comms_rules.MARKETING}
    choice_then = (
        select(MarketingChoice.choice)
        .where(MarketingChoice.subject_id == OutboxItem.subject_id,
               MarketingChoice.at <= OutboxItem.sent_at)
        .order_by(MarketingChoice.at.desc(), MarketingChoice.id.desc())
        .limit(1)
        .correlate(OutboxItem)
        .scalar_subquery()
    )  # fmt: skip
    query = select(OutboxItem.id).where(
        OutboxItem.status == comms_rules.Status.SENT,
        OutboxItem.purpose.in_(sorted(marketing)),
        OutboxItem.sent_at.isnot(None),
        choice_then == comms_rules.OPTED_OUT,
    )
    found = Finding()
    count = ctx.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    if count:
        found.add(ctx.session.scalars(query.limit(MAX_EXAMPLES)), count)
    return found


def disclosures_outside_policy(ctx: Context) -> Finding:
    """Each disclosure, judged by the published version it was made under (its policy hash;
    the loaded policy when that version was never published): a recipient, purpose or
    category it did not allow, a missing legal reference, or a person's share wider than the
    disclosure's own categories. And each in-service delivery (the e-mail provider)."""
    found = Finding()
    by_hash = {v.content_hash: v.policy for v in map(ctx.book.version, ctx.book.seqs()) if v}
    unpublished = 0
    after: Any = None
    while True:
        # A record that disclosed to nobody (a request refused as a whole is kept too, with
        # its people refused) sent nothing that could be outside the policy.
        query = (
            select(Disclosure)
            .where(Disclosure.people_disclosed > 0)
            .order_by(Disclosure.id)
            .limit(BATCH)
        )
        if after is not None:
            query = query.where(Disclosure.id > after)
        batch = list(ctx.session.scalars(query))
        if not batch:
            break
        for disclosure in batch:
            policy = by_hash.get(disclosure.policy_hash)
            unpublished += policy is None
            refusal = sharing_rules.check_request(
                policy or ctx.policy, recipient=disclosure.recipient_id, purpose=disclosure.purpose,
                categories=disclosure.categories, reference=disclosure.reference,
            )  # fmt: skip
            if refusal is not None:
                found.add([disclosure.id])
        after = batch[-1].id
    wider = select(DisclosureSubject.disclosure_id).join(
        Disclosure, Disclosure.id == DisclosureSubject.disclosure_id
    )
    for row in ctx.session.execute(
        wider.add_columns(DisclosureSubject.categories, Disclosure.categories)
    ):
        if not set(row[1]) <= set(row[2]):
            found.add([row[0]])
    for sid, recipient, purpose, categories in ctx.session.execute(
        select(ServiceDelivery.subject_id, ServiceDelivery.recipient_id,
               ServiceDelivery.purpose, ServiceDelivery.categories)
    ):  # fmt: skip
        if not _delivery_allowed(ctx, recipient, purpose, categories.split(",")):
            found.add([f"delivery to {recipient} of {sid}"])
    if unpublished:
        found.notes.append(
            f"{unpublished} disclosure(s) made under a policy never published as a version "
            "were judged by the loaded policy"
        )
    return found


def _delivery_allowed(ctx: Context, recipient: str, purpose: str, categories: list[str]) -> bool:
    """A processor's in-service delivery (the e-mail provider), judged by the loaded policy:
    the rows keep no policy hash (they aggregate many sendings)."""
    if recipient not in ctx.policy.recipient_ids:
        return False
    spec = ctx.policy.recipient(recipient)
    return purpose in spec.purposes and set(categories) <= set(spec.categories)


def requests_past_deadline(ctx: Context) -> Finding:
    """An open request past its deadline (an extension moves the deadline), or one answered
    after it."""
    open_late = and_(
        DataRequest.status.in_(sorted(request_rules.OPEN)), DataRequest.deadline_at < ctx.now
    )
    answered_late = and_(
        DataRequest.responded_at.isnot(None), DataRequest.responded_at > DataRequest.deadline_at
    )
    query = select(DataRequest.id).where(or_(open_late, answered_late))
    found = Finding()
    count = ctx.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    if count:
        found.add(ctx.session.scalars(query.order_by(DataRequest.id).limit(MAX_EXAMPLES)), count)
    return found


def extensions_told_in_time(ctx: Context) -> Finding:
    """An extended request whose extension was made after its first deadline, has no first
    deadline recorded, or has no e-mail to the person queued for it (the outbox row the
    request names, for that person, queued no later than the first deadline)."""
    notice = and_(
        OutboxItem.id == DataRequest.extension_notice_item,
        OutboxItem.subject_id == DataRequest.subject_id,
        OutboxItem.created_at <= DataRequest.first_deadline_at,
    )
    query = (
        select(DataRequest.id)
        .outerjoin(OutboxItem, notice)
        .where(
            DataRequest.extended_at.isnot(None),
            or_(
                DataRequest.first_deadline_at.is_(None),
                DataRequest.extended_at > DataRequest.first_deadline_at,
                OutboxItem.id.is_(None),
            ),
        )
    )
    found = Finding()
    count = ctx.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    if count:
        found.add(ctx.session.scalars(query.order_by(DataRequest.id).limit(MAX_EXAMPLES)), count)
    return found


CHECKS = (
    Check("marketing.after_opt_out",
          "No marketing e-mail is sent after the person opted out.", marketing_after_opt_out),
    Check("sharing.within_policy",
          "Personal data is disclosed only to the recipients, for the purposes and of the "
          "categories the policy names.", disclosures_outside_policy),
    Check("requests.deadlines",
          "Every request is answered within its deadline (or its extension).",
          requests_past_deadline),
    Check("requests.extension_told",
          "A deadline is extended only within the first period, and the person is told the "
          "new deadline and the reason.", extensions_told_in_time),
)  # fmt: skip
