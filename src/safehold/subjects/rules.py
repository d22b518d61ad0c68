"""Pure rules for people's data: normalising contact details, the categories and fields the
subjects feature holds, and how a card is shown."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import phonenumbers
from confusable_homoglyphs import categories
from email_validator import EmailNotValidError, validate_email

from safehold.subjects.errors import ConfusableEmail, InvalidEmail, InvalidPhone

# What a person record holds, by policy category and field (the policy declares the fields).
NAME, EMAIL, PHONE, ADDRESS, PAYMENT = (
    "account.name",
    "account.email",
    "account.phone",
    "account.address",
    "account.payment",
)
ADDRESS_FIELDS = ("street", "postal_code", "city", "country")
SUBJECT_CATEGORIES = (NAME, EMAIL, PHONE, ADDRESS, PAYMENT)
BRANDS = {
    "visa": "Visa",
    "mastercard": "Mastercard",
    "amex": "American Express",
    "discover": "Discover",
    "diners": "Diners Club",
    "jcb": "JCB",
    "unionpay": "UnionPay",
    "maestro": "Maestro",
}


# UTS #39 §5.1: scripts written together count as one ("augmented" script sets), so a
# Japanese or Korean address that mixes its own scripts is not "mixed".
AUGMENTED_SCRIPTS: dict[str, frozenset[str]] = {
    "HAN": frozenset({"HAN", "JPAN", "KORE", "HANB"}),
    "HIRAGANA": frozenset({"HIRAGANA", "JPAN"}),
    "KATAKANA": frozenset({"KATAKANA", "JPAN"}),
    "HANGUL": frozenset({"HANGUL", "KORE"}),
    "BOPOMOFO": frozenset({"BOPOMOFO", "HANB"}),
}
ANY_SCRIPT = frozenset({"COMMON", "INHERITED"})  # digits, '.', '-', '+', combining marks


def normalise_email(raw: str) -> str:
    """The address as stored and indexed: syntax checked (no DNS look-up), lower-cased, and
    refused (:class:`ConfusableEmail`) when it could pass for another address — see
    :func:`confusable`. Every path that stores or looks up an address comes through here."""
    try:
        checked = validate_email(raw, check_deliverability=False)
    except EmailNotValidError:
        raise InvalidEmail(
            "this is not a valid e-mail address", details={"field": "email"}
        ) from None
    normalised = checked.normalized.lower()
    if confusable(normalised):
        raise ConfusableEmail(
            "this e-mail address mixes alphabets or uses look-alike characters (such as "
            "full-width letters); write it in one alphabet",
            details={"field": "email"},
        )
    return normalised


def confusable(address: str) -> bool:
    """Whether a checked address could be mistaken for another one: it is not in NFKC form
    (full-width letters, ligatures, superscripts: compatibility characters that look like
    plain ones), or its local part or a label of its domain mixes scripts (UTS #39
    mixed-script detection: a Cyrillic "a", U+0430, among Latin letters). An address wholly in one
    script — Latin, Cyrillic, Greek, Japanese — is not confusable by this rule.

    The domain of a checked address is already mapped by IDNA (UTS #46): a full-width
    domain arrives as plain ASCII and a punycode one (``xn--``) in Unicode, so both are
    judged by the letters they stand for."""
    local, _, domain = address.rpartition("@")
    if unicodedata.normalize("NFKC", address) != address:
        return True
    return not all(single_script(part) for part in (local, *domain.split(".")))


def single_script(text: str) -> bool:
    """UTS #39's resolved script set of ``text`` is not empty: some one (augmented) script
    holds every character; characters common to all scripts (digits, punctuation) and
    combining marks fit any. Scripts come from the Unicode Scripts data shipped by
    ``confusable_homoglyphs`` (the standard library has no script property)."""
    resolved: frozenset[str] | None = None
    for char in text:
        script: str = categories.alias(char)
        if script in ANY_SCRIPT:
            continue
        scripts = AUGMENTED_SCRIPTS.get(script, frozenset({script}))
        resolved = scripts if resolved is None else resolved & scripts
        if not resolved:
            return False
    return True


def normalise_phone(raw: str, region: str | None = None) -> str:
    """E.164 (+4915112345678). A number without a leading + needs the address's country.

    The refusal says what is wrong: a number whose country is known (a leading + or the
    address's country) but whose digits are not a number of that country is "not a valid
    number" (``details.reason`` ``not_a_number``); only one whose country cannot be told is
    asked for the international form (``international_form_needed``)."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as error:
        no_country = error.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE
        if no_country and not raw.strip().startswith("+"):  # "+999 …": a + but no country
            raise InvalidPhone(
                "this phone number needs its country: use the international form, "
                "e.g. +44 20 7946 0958",
                details={"field": "phone", "reason": "international_form_needed"},
            ) from None
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise InvalidPhone(
            "this is not a valid phone number: check its digits",
            details={"field": "phone", "reason": "not_a_number"},
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@dataclass(frozen=True)
class CardDisplay:
    brand: str
    last4: str
    exp_month: int
    exp_year: int

    def __str__(self) -> str:
        return f"{BRANDS.get(self.brand, self.brand.title())} •••• {self.last4}"


def expiry_text(month: int, year: int) -> str:
    return f"{year:04d}-{month:02d}"


def parse_expiry(text: str) -> tuple[int, int]:
    year, month = text.split("-")
    return int(month), int(year)


@dataclass(frozen=True)
class Contact:
    """Normalised contact details, as category -> field -> value, ready to encrypt."""

    fields: dict[str, dict[str, str]]
    email: str | None = None
    phone: str | None = None
    removed: tuple[str, ...] = ()


def contact(
    *,
    name: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    address: dict[str, str] | None = None,
    remove: tuple[str, ...] = (),
) -> Contact:
    """Check and normalise what a person gave us; ``remove`` lists categories to delete."""
    fields: dict[str, dict[str, str]] = {}
    if name is not None:
        fields[NAME] = {"full_name": " ".join(name.split())}
    norm_email = normalise_email(email) if email is not None else None
    if norm_email is not None:
        fields[EMAIL] = {"email": norm_email}
    region = address.get("country") if address else None
    norm_phone = normalise_phone(phone, region) if phone is not None else None
    if norm_phone is not None:
        fields[PHONE] = {"phone": norm_phone}
    if address is not None:
        fields[ADDRESS] = {key: address[key].strip() for key in ADDRESS_FIELDS}
    return Contact(fields, norm_email, norm_phone, remove)


# --- restriction of processing (GDPR Art. 18) ----------------------------------------------

RESTRICTED = "restricted"
# Why staff restrict, one code per ground of Art. 18(1); closed lists, so the record (which
# outlives the person) holds no personal data.
RESTRICTION_REASONS: dict[str, str] = {
    "accuracy_contested": "the person contests the accuracy of their data, for the time it "
    "takes to check it (Art. 18(1)(a))",
    "unlawful_processing": "the processing is unlawful and the person asks for restriction "
    "instead of erasure (Art. 18(1)(b))",
    "legal_claims": "we no longer need the data but the person needs it for legal claims "
    "(Art. 18(1)(c))",
    "objection_pending": "the person objected and we are checking whether our grounds "
    "override theirs (Art. 18(1)(d))",
}
LIFT_REASONS: dict[str, str] = {
    "accuracy_checked": "the accuracy of the data was checked (and corrected where wrong)",
    "claims_concluded": "the legal claims the data was kept for are concluded",
    "objection_decided": "the objection was decided",
    "person_asked": "the person asked us to lift the restriction",
}


def status_after_lift(closed: bool) -> str:
    """What the account is once a restriction ends: closed if it was closed meanwhile."""
    return "closed" if closed else "active"
