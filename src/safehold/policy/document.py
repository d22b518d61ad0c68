"""The policy file's schema: what an operator may write, as frozen Pydantic models.

Every model forbids unknown keys, so a misspelt key is an error with a line number rather
than a silently ignored promise. Shape and types are checked here; rules that relate one
part of the file to another (a purpose naming an undeclared category, a recipient outside
the sharing rule ...) live in ``validate.py``. The full reference is docs/policy-format.md.
"""

from __future__ import annotations

from collections.abc import Collection
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

from safehold.policy.durations import check_positive_duration

ID_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$"
FIELD_PATTERN = r"^[a-z][a-z0-9_]*$"
EMAIL_PATTERN = r"^[^@\s<>()\[\]\"']+@[^@\s<>()\[\]\"']+\.[A-Za-z0-9-]+$"
URL_PATTERN = r"^https?://[^\s<>()\[\]\"']+$"
PATH_OR_URL_PATTERN = r"^(/[^\s<>()\[\]\"']*|https?://[^\s<>()\[\]\"']+)$"


def _duration(value: str) -> str:
    try:
        check_positive_duration(value)
    except ValueError as exc:
        raise PydanticCustomError("duration", "{reason}", {"reason": str(exc)}) from exc
    return value


Identifier = Annotated[str, StringConstraints(pattern=ID_PATTERN, max_length=80)]
FieldName = Annotated[str, StringConstraints(pattern=FIELD_PATTERN, max_length=60)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
Email = Annotated[str, StringConstraints(pattern=EMAIL_PATTERN, max_length=254)]
Url = Annotated[str, StringConstraints(pattern=URL_PATTERN, max_length=2000)]
PathOrUrl = Annotated[str, StringConstraints(pattern=PATH_OR_URL_PATTERN, max_length=2000)]
Duration = Annotated[str, AfterValidator(_duration)]
"""An ISO 8601 duration longer than zero, kept as written (``P30D``, ``P1M``, ``P2Y``)."""


class LawfulBasis(StrEnum):
    """GDPR Art. 6(1): the six reasons processing can be lawful."""

    CONSENT = "consent"
    CONTRACT = "contract"
    LEGAL_OBLIGATION = "legal_obligation"
    VITAL_INTERESTS = "vital_interests"
    PUBLIC_TASK = "public_task"
    LEGITIMATE_INTERESTS = "legitimate_interests"

    @property
    def article(self) -> str:
        letter = "abcdef"[list(LawfulBasis).index(self)]
        return f"GDPR Art. 6(1)({letter})"


class RecipientRole(StrEnum):
    PROCESSOR = "processor"
    AUTHORITY = "authority"


class RetentionFrom(StrEnum):
    """The moment a retention period starts; listed from earliest to latest."""

    COLLECTED = "collected"
    LAST_ACTIVITY = "last_activity"
    ACCOUNT_CLOSED = "account_closed"

    @property
    def words(self) -> str:
        """How the published policy says it: "90 days *after the account is closed*"."""
        return {
            "collected": "after it is collected",
            "last_activity": "after your last activity",
            "account_closed": "after the account is closed",
        }[self.value]


class RetentionAction(StrEnum):
    DELETE = "delete"
    AGGREGATE_THEN_DELETE = "aggregate_then_delete"


class ChangeClass(StrEnum):
    MINOR = "minor"
    MATERIAL = "material"


class CategoryGroup(StrEnum):
    ACCOUNT = "account"
    USAGE = "usage"
    DEVICE = "device"
    NETWORK = "network"


class CategorySource(StrEnum):
    PROVIDED = "provided"  # the person typed it in
    OBSERVED = "observed"  # the platform records it while the person uses the service


class RequestKind(StrEnum):
    ACCESS = "access"
    EXPORT = "export"
    RECTIFICATION = "rectification"
    ERASURE = "erasure"
    OBJECTION = "objection"
    RESTRICTION = "restriction"


class NoticeChannel(StrEnum):
    EMAIL = "email"
    PRIVACY_CENTER = "privacy_center"
    WEBSITE_BANNER = "website_banner"


class VerificationMethod(StrEnum):
    EMAIL_CODE = "email_code"


class IpMode(StrEnum):
    """How much of an event's IP address is kept, from least to most."""

    DROP = "drop"
    TRUNCATE = "truncate"
    FULL = "full"  # only for a declared security purpose, with its own short retention


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PolicyMeta(_Model):
    title: Text
    operator: Text
    language: Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[A-Z]{2})?$")] = "en"
    overview: Text | None = None


class ContactChannel(_Model):
    label: Text
    value: Text


class Controller(_Model):
    """Who is responsible for the data (GDPR Art. 13(1)(a)) and how to reach them."""

    name: Text
    email: Email
    website: Url
    address: Text | None = None
    phone: Text | None = None
    dpo_email: Email | None = None
    contact_channels: tuple[ContactChannel, ...] = ()


class GroupText(_Model):
    id: CategoryGroup
    label: Text
    description: Text


class CategoryField(_Model):
    name: FieldName
    label: Text


class Category(_Model):
    id: Identifier
    label: Text
    group: CategoryGroup
    source: CategorySource
    description: Text
    fields: tuple[CategoryField, ...] = Field(min_length=1)
    required: bool = False
    minimisation: Text | None = None
    never_kept: tuple[Text, ...] = ()


class Purpose(_Model):
    id: Identifier
    label: Text
    description: Text
    lawful_basis: LawfulBasis
    categories: tuple[Identifier, ...] = Field(min_length=1)
    interest: Text | None = None
    consequence: Text | None = None
    opt_out: bool = False
    objectable: bool = False
    aggregate_only: bool = False
    marketing: bool = False
    after_closure: bool = False

    @property
    def is_marketing(self) -> bool:
        """Marketing by flag or by the ``communication.marketing`` naming convention."""
        return self.marketing or self.id.startswith("communication.marketing")


# The European Economic Area: a recipient elsewhere is a transfer to a third country (GDPR
# Chapter V), which needs a safeguard (Art. 45 adequacy, Art. 46 standard clauses …) that the
# policy names and the record of processing activities lists.
EEA_COUNTRIES = frozenset(
    {
        "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
        "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
        "IS", "LI", "NO",
    }
)  # fmt: skip


class Recipient(_Model):
    id: Identifier
    name: Text
    role: RecipientRole
    description: Text
    purposes: tuple[Identifier, ...] = Field(min_length=1)
    categories: tuple[Identifier, ...] = Field(min_length=1)
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
    agreement: Text | None = None
    transfer_safeguard: Text | None = None
    legal_reference_required: bool = False
    notify_on_erasure: bool = True
    # The e-mail provider: it receives the address (and what a message uses) of every e-mail
    # Safehold sends, recorded as a delivery to this recipient for its one purpose.
    delivers_email: bool = False

    @property
    def third_country(self) -> bool:
        """Outside the European Economic Area: a transfer that needs a named safeguard."""
        return self.country not in EEA_COUNTRIES


class RetentionException(_Model):
    """Data kept beyond its rule: always with a legal basis, a reason and an end."""

    id: Identifier
    description: Text
    categories: tuple[Identifier, ...] = ()
    fields: tuple[Identifier, ...] = ()
    period: Duration
    from_: RetentionFrom = Field(alias="from")
    legal_basis: Text | None = None
    reason: Text | None = None
    survives_erasure: bool = False
    # The people the exception's basis applies to: only those of whom one of these
    # categories is held (invoice records only for people with payment records). Empty:
    # everyone whose data it covers.
    only_for_people_with: tuple[Identifier, ...] = ()

    def applies_to(self, held: Collection[str]) -> bool:
        """Whether the exception keeps anything of a person holding ``held`` categories."""
        return not self.only_for_people_with or any(c in held for c in self.only_for_people_with)


class RetentionRule(_Model):
    id: Identifier
    label: Text
    categories: tuple[Identifier, ...] = Field(min_length=1)
    period: Duration
    from_: RetentionFrom = Field(alias="from")
    action: RetentionAction
    reason: Text
    exceptions: tuple[RetentionException, ...] = ()


class SharingRules(_Model):
    allowed_purposes: tuple[Identifier, ...] = ("legal_obligation", "service_provision")


class Statements(_Model):
    """The operator's own words where the seed makes a statement rather than a rule."""

    user_responsibility: Text | None = None
    third_party_liability: Text | None = None
    third_party_retention: Text | None = None


class ChangeRules(_Model):
    posted_at: PathOrUrl
    notice_period: Duration
    notify: tuple[NoticeChannel, ...] = (NoticeChannel.EMAIL, NoticeChannel.PRIVACY_CENTER)
    continued_use_accepts_minor: bool
    material_requires_explicit_acceptance: bool


class OperationalRetention(_Model):
    what: Text
    reason: Text


class RequestRules(_Model):
    kinds: tuple[RequestKind, ...] = Field(min_length=1)
    deadline: Duration
    max_extension: Duration
    extension_requires_reason: bool = True
    verification: VerificationMethod
    privacy_center: PathOrUrl = "/me"
    operational_retention: tuple[OperationalRetention, ...] = ()


class AnalyticsRules(_Model):
    k_anonymity: int = Field(ge=2, le=1000)


class FullIpRules(_Model):
    """Whole IP addresses, kept only for one declared purpose and only briefly."""

    purpose: Identifier
    period: Duration


class IpRules(_Model):
    mode: IpMode
    ipv4_prefix: int = Field(default=24, ge=0, le=32)
    ipv6_prefix: int = Field(default=48, ge=0, le=128)
    full: FullIpRules | None = None  # required with `mode: full`, refused otherwise


EventName = Annotated[str, StringConstraints(pattern=ID_PATTERN, max_length=64)]
# What events record when the policy declares no event names.
LOGIN_CATEGORY = "usage.login"
ACTION_CATEGORY = "usage.action"


class EventKind(_Model):
    """One event name the service may send, what it records and which properties it carries.

    ``dimensions`` are stored as sent, under the person's pseudonymous id, for analysis;
    ``personal`` properties (free text, anything about the person) are encrypted under the
    person's key for the category's retention class."""

    name: EventName
    category: Identifier
    label: Text | None = None
    dimensions: tuple[FieldName, ...] = ()
    personal: tuple[FieldName, ...] = ()


class EventRules(_Model):
    ip: IpRules
    user_agent: Literal["coarse", "drop"] = "coarse"
    login_event: EventName = "login"  # starts a sign-in in the login history
    logout_event: EventName = "logout"  # ends the latest open sign-in
    # The event names allowed, with their properties. Empty: any name is accepted and every
    # property is treated as personal (encrypted), the safe default.
    names: tuple[EventKind, ...] = ()

    def kind(self, name: str) -> EventKind | None:
        for kind in self.names:
            if kind.name == name:
                return kind
        return None

    def category_of(self, name: str) -> str | None:
        """The category an event records; None for a name the policy does not allow."""
        kind = self.kind(name)
        if kind is not None:
            return kind.category
        if self.names:
            return None
        return LOGIN_CATEGORY if name in (self.login_event, self.logout_event) else ACTION_CATEGORY


class Policy(_Model):
    """A whole policy file. Lookups raise ``KeyError`` for ids the policy does not declare."""

    schema_version: Literal[1]
    policy: PolicyMeta
    controller: Controller
    groups: tuple[GroupText, ...] = Field(min_length=1)
    categories: tuple[Category, ...] = Field(min_length=1)
    purposes: tuple[Purpose, ...] = Field(min_length=1)
    recipients: tuple[Recipient, ...] = ()
    sharing: SharingRules = SharingRules()
    retention: tuple[RetentionRule, ...] = Field(min_length=1)
    statements: Statements = Statements()
    changes: ChangeRules
    requests: RequestRules
    analytics: AnalyticsRules
    events: EventRules

    @property
    def category_ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.categories)

    @property
    def purpose_ids(self) -> tuple[str, ...]:
        return tuple(p.id for p in self.purposes)

    @property
    def recipient_ids(self) -> tuple[str, ...]:
        return tuple(r.id for r in self.recipients)

    def category(self, category_id: str) -> Category:
        for category in self.categories:
            if category.id == category_id:
                return category
        raise KeyError(category_id)

    def purpose(self, purpose_id: str) -> Purpose:
        for purpose in self.purposes:
            if purpose.id == purpose_id:
                return purpose
        raise KeyError(purpose_id)

    @property
    def mail_recipient(self) -> Recipient | None:
        """The recipient that delivers every e-mail (``delivers_email``), if one is named."""
        return next((r for r in self.recipients if r.delivers_email), None)

    def recipient(self, recipient_id: str) -> Recipient:
        for recipient in self.recipients:
            if recipient.id == recipient_id:
                return recipient
        raise KeyError(recipient_id)

    def group(self, group: CategoryGroup) -> GroupText:
        for text in self.groups:
            if text.id == group:
                return text
        raise KeyError(group)

    def retention_rule_for(self, category_id: str) -> RetentionRule:
        for rule in self.retention:
            if category_id in rule.categories:
                return rule
        raise KeyError(category_id)

    def retention_class(self, category_id: str, field: str) -> str:
        """The retention class a field is encrypted under: its rule, or the exception that
        keeps it longer. Each person has one data key per class, so shredding one class at the
        end of its period leaves data kept longer for a legal reason readable."""
        for exc in self.exceptions_for(category_id):
            if not exc.fields or field in exc.fields:
                return exc.id
        return self.retention_rule_for(category_id).id

    def exceptions_for(self, category_id: str) -> tuple[RetentionException, ...]:
        """Retention exceptions that keep this category longer than its rule."""
        rule = self.retention_rule_for(category_id)
        return tuple(
            exc for exc in rule.exceptions if not exc.categories or category_id in exc.categories
        )
