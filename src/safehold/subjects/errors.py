from __future__ import annotations

from safehold.errors import Conflict, Forbidden, Gone, InvalidInput, NotFound


class SubjectNotFound(NotFound):
    code = "subject_not_found"


class NoPersonFound(SubjectNotFound):
    """A look-up found no person its purpose may know of: nobody holds the address or
    number, or the person who does has refused the purpose (opt-out, objection, account
    state). Both answer alike, so a look-up never reveals that such a person exists; the
    audit entry saying which it was is committed although the request fails."""

    keeps_writes = True


class SubjectErased(Gone):
    code = "subject_erased"


class KeptReadNeedsReference(InvalidInput):
    """A read of what an erasure kept under a legal obligation names no reference (the
    case, the authority's request, the audit it answers)."""

    code = "reference_required"


class EmailTaken(Conflict):
    code = "email_taken"


class InvalidEmail(InvalidInput):
    code = "invalid_email"


class ConfusableEmail(InvalidEmail):
    """An address that mixes alphabets or uses look-alike characters (decision 0019): it
    would show exactly like another person's address, so it is refused, not stored."""

    code = "email_confusable"


class InvalidPhone(InvalidInput):
    code = "invalid_phone"


class PaymentMethodNotFound(NotFound):
    code = "payment_method_not_found"


class CardExpired(InvalidInput):
    code = "card_expired"


class LookupKeyMissing(InvalidInput):
    code = "email_or_phone_required"


class PurposeRefused(Forbidden):
    """The policy refused the purpose for this person. The audit entry recording the refusal
    is committed even though the request fails."""

    code = "purpose_refused"
    keeps_writes = True
