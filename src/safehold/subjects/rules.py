"""Pure rules for people's data: normalising contact details, the categories and fields the
subjects feature holds, and how a card is shown."""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from safehold.subjects.errors import InvalidEmail, InvalidPhone

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


def normalise_email(raw: str) -> str:
    """The address as stored and indexed: syntax checked (no DNS look-up), lower-cased."""
    try:
        checked = validate_email(raw, check_deliverability=False)
    except EmailNotValidError:
        raise InvalidEmail(
            "this is not a valid e-mail address", details={"field": "email"}
        ) from None
    return checked.normalized.lower()


def normalise_phone(raw: str, region: str | None = None) -> str:
    """E.164 (+4915112345678). A number without a leading + needs the address's country."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise InvalidPhone(
            "this is not a valid phone number; use the international form, e.g. +44 20 7946 0958",
            details={"field": "phone"},
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
