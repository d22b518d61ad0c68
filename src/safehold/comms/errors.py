from __future__ import annotations

from safehold.errors import Conflict, InvalidInput, NotFound


class UnknownKind(InvalidInput):
    code = "unknown_message_kind"


class PurposeNotDeclared(InvalidInput):
    """The policy in force does not declare the purpose this kind of message needs."""

    code = "message_purpose_undeclared"


class TemplateInvalid(InvalidInput):
    """A template cannot be used; ``details`` names the part, the line and the problem."""

    code = "template_invalid"


class TemplateCategoryRefused(InvalidInput):
    """A template uses personal data its message's purpose may not use."""

    code = "template_category_refused"


class UnknownRecipients(InvalidInput):
    code = "unknown_recipients"


class MessageNotFound(NotFound):
    code = "message_not_found"


class UnsubscribeLinkInvalid(NotFound):
    """Forged, altered, truncated, or naming no marketing e-mail."""

    code = "unsubscribe_link_invalid"


class UnsubscribeLinkOutdated(Conflict):
    """The person chose to receive marketing again after this e-mail was sent."""

    code = "unsubscribe_link_outdated"
