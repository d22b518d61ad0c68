"""Cross-checks of the recipient that delivers every e-mail (``delivers_email``).

Every e-mail Safehold sends hands the person's address — and their name when the message
uses it — to that recipient, and each hand-over is recorded as a delivery to it for its one
purpose (``sharing.deliveries``). So the policy must say it receives exactly that: one such
recipient at most, a processor, with one purpose, receiving every category an e-mail can
carry (:data:`MAIL_CATEGORIES`, the categories of ``comms.templating.PERSONAL_VARIABLES``;
a test keeps the two equal).
"""

from __future__ import annotations

from collections.abc import Iterator

from safehold.policy.document import Policy, RecipientRole

MAIL_CATEGORIES = ("account.email", "account.name")
Found = tuple[str, str, str]


def check_mail_delivery(policy: Policy) -> Iterator[Found]:
    seen: str | None = None
    for r, recipient in enumerate(policy.recipients):
        if not recipient.delivers_email:
            continue
        here = f"recipients[{r}].delivers_email"
        if seen is not None:
            yield (
                here,
                f"recipients '{seen}' and '{recipient.id}' both deliver every e-mail",
                "set `delivers_email: true` on the one provider that sends Safehold's e-mail",
            )
        seen = seen or recipient.id
        if recipient.role is not RecipientRole.PROCESSOR:
            yield (
                here,
                f"recipient '{recipient.id}' delivers e-mail but is not a processor",
                "an e-mail provider acts on your instructions: set `role: processor`",
            )
        if len(recipient.purposes) != 1:
            yield (
                here,
                f"recipient '{recipient.id}' delivers e-mail for {len(recipient.purposes)} "
                "purposes; each delivery is recorded under one",
                "list the one purpose delivering e-mail serves (e.g. service_provision)",
            )
        missing = [c for c in MAIL_CATEGORIES if c not in recipient.categories]
        if missing:
            yield (
                here,
                f"recipient '{recipient.id}' delivers e-mail, which carries "
                f"{', '.join(missing)}, but its categories do not list it",
                f"add {', '.join(missing)} to its categories",
            )
