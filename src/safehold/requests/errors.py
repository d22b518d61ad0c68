from __future__ import annotations

from safehold.errors import Conflict, Gone, InvalidInput, NotFound


class RequestNotFound(NotFound):
    code = "request_not_found"


class TransitionRefused(Conflict):
    code = "request_transition_refused"


class KindNotOffered(InvalidInput):
    code = "request_kind_not_offered"


class ErasureAlreadyOpen(Conflict):
    """A second erasure request for a person while one is open."""

    code = "erasure_already_open"


class ErasureRunning(Conflict):
    """Another runner holds the erasure's lease."""

    code = "erasure_running"


class NotAnErasure(InvalidInput):
    code = "request_not_erasure"


class ReasonUnknown(InvalidInput):
    code = "request_reason_unknown"


class ExtensionInvalid(InvalidInput):
    code = "request_extension_invalid"


class AlreadyExtended(Conflict):
    code = "request_already_extended"


class ExtensionTooLate(Conflict):
    """Art. 12(3): the person is told of an extension within the first period; once the
    first deadline has passed it is too late (details: deadline_at)."""

    code = "extension_too_late"


class CodeLimitReached(Conflict):
    code = "verification_code_limit"


class CodeMissing(Conflict):
    code = "verification_code_missing"
    keeps_writes = True


class CodeInvalid(InvalidInput):
    """A wrong code. The attempt is counted (committed) although the request fails."""

    code = "verification_code_invalid"
    keeps_writes = True


class CodeExpired(InvalidInput):
    code = "verification_code_expired"
    keeps_writes = True


class CodeAttemptsExhausted(Conflict):
    code = "verification_code_attempts_exhausted"
    keeps_writes = True


class CertificateNotReady(Conflict):
    code = "certificate_not_ready"


class WrongKind(InvalidInput):
    """The request is of another kind than the action asked of it (details: kind, expected)."""

    code = "request_wrong_kind"


class ObjectionInvalid(InvalidInput):
    code = "request_objection_invalid"


class RectificationInvalid(InvalidInput):
    code = "request_rectification_invalid"


class ExportLinkInvalid(NotFound):
    """Not a link this Safehold issued (forged, altered, truncated) or not for an export."""

    code = "export_link_invalid"


class ExportLinkExpired(Gone):
    code = "export_link_expired"


class RestrictionInForce(Conflict):
    """The person's processing is already restricted (details: request_id of the one in force)."""

    code = "restriction_in_force"


class RestrictionNotFound(NotFound):
    """No restriction was applied on this request."""

    code = "restriction_not_found"


class RestrictionLifted(Conflict):
    code = "restriction_already_lifted"


class LiftNotAnnounced(Conflict):
    """Art. 18(3): the person must be told before the restriction is lifted."""

    code = "restriction_lift_not_announced"


class LiftNoticeNotSent(Conflict):
    """The e-mail telling the person of the lift has not gone out yet (details: status)."""

    code = "restriction_lift_notice_not_sent"


class AssigneeInvalid(InvalidInput):
    """No active staff member with that id whose role may act on requests."""

    code = "request_assignee_invalid"


class NoteInvalid(InvalidInput):
    code = "request_note_invalid"


class NoteRefused(Conflict):
    """A note about a person already erased: nothing more is written about them."""

    code = "request_note_refused"
