"""Request and response bodies, as Open Loyalty's contract has them (requests lenient, responses strict)."""

from __future__ import annotations

from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Str255 = Annotated[str, StringConstraints(max_length=255)]
NonEmpty255 = Annotated[str, StringConstraints(min_length=1, max_length=255)]
WEBHOOK_EVENT_NAMES = (
    "MemberAchievementProgressWasChanged",
    "AchievementsWereProcessed",
    "AchievementCreated",
    "AchievementUpdated",
    "CustomerRegistered",
    "TransactionRegistered",
    "TransactionAssignedToCustomer",
)


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore")


class CustomerData(_In):
    customerId: Str255 | None = None
    email: Str255 | None = None
    phone: Str255 | None = None
    loyaltyCardNumber: Str255 | None = None


class EventIn(_In):
    type: NonEmpty255
    eventDate: NonEmpty255
    customerData: CustomerData = Field(default_factory=CustomerData)
    body: dict[str, Any] = Field(default_factory=dict)
    eventId: NonEmpty255 | None = None

    @cached_property
    def customer(self) -> dict[str, Any]:
        """``customerData`` as a dict (validation and the record both read it)."""
        return self.customerData.model_dump()


class CustomEventRequest(_In):
    event: EventIn


class CustomEventCreated(BaseModel):
    customEventId: str


class SchemaField(_In):
    name: NonEmpty255
    type: Literal["text", "number", "datetime", "boolean", "object", "collection"]
    description: Str255 = ""


class SchemaFields(_In):
    fields: list[SchemaField] = Field(default_factory=list, max_length=200)


class SchemaActive(_In):
    isActive: bool


class CustomEventSchemaIn(_In):
    eventType: Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_.\-]+$")]
    name: NonEmpty255
    schema_: SchemaFields = Field(alias="schema")
    active: SchemaActive | None = None


class CustomEventSchemaRequest(_In):
    customEventSchema: CustomEventSchemaIn


class AchievementRequest(_In):
    achievement: dict[str, Any]


class AchievementCreated(BaseModel):
    achievementId: str


class _CustomerFields(BaseModel):
    """The fields the Member record has a column for are typed here (a wrong type there was a 500 when the
    record was encoded); the others are kept, within ``ingest_api.strict``'s limits, as the member's attributes."""

    model_config = ConfigDict(extra="allow")
    firstName: Str255 | None = None
    lastName: Str255 | None = None
    email: Str255 | None = None
    phone: Str255 | None = None
    loyaltyCardNumber: Str255 | None = None
    registeredAt: Str255 | None = Field(None, description="ISO-8601; no offset = store time")
    active: bool | None = None


class CustomerIn(_CustomerFields):
    """CustomerRegistrationFormType: at least one identifier."""

    @model_validator(mode="after")
    def _one_identifier(self) -> CustomerIn:
        if not any((value or "").strip() for value in (self.email, self.phone, self.loyaltyCardNumber)):
            raise ValueError("At least one of email, phone or loyaltyCardNumber is required.")
        return self


class MemberRequest(_In):
    customer: CustomerIn


class MemberCreated(BaseModel):
    customerId: str
    email: str | None = None


class WebhookHeaderIn(_In):
    headerName: NonEmpty255
    headerValue: Annotated[str, StringConstraints(max_length=4096)]


class WebhookSubscriptionIn(_In):
    eventName: NonEmpty255
    url: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    destinationType: Literal["rest"] = "rest"
    headers: list[WebhookHeaderIn] = Field(default_factory=list, max_length=20)
    headerName: Str255 | None = None
    headerValue: Annotated[str, StringConstraints(max_length=4096)] | None = None
    hmacEnabled: bool = False


class WebhookSubscriptionRequest(_In):
    webhookSubscription: WebhookSubscriptionIn


class WebhookSubscriptionCreated(BaseModel):
    webhookSubscriptionId: str
    secret: str | None = Field(None, description="whsec_… signing secret, returned once when hmacEnabled")


class WebhookSubscriptionUpdateIn(_In):
    url: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    destinationType: Literal["rest"] = "rest"
    headers: list[WebhookHeaderIn] = Field(default_factory=list, max_length=20)
    headerName: Str255 | None = None
    headerValue: Annotated[str, StringConstraints(max_length=4096)] | None = None
    hmacEnabled: bool | None = Field(None, description="false stops signing; POST …/secret turns signing on")


class WebhookSubscriptionUpdateRequest(_In):
    webhookSubscription: WebhookSubscriptionUpdateIn


class WebhookHeaderOut(BaseModel):
    headerName: str
    headerValue: str


class WebhookSubscriptionDetails(BaseModel):
    webhookSubscriptionId: str
    eventName: str
    url: str
    headers: list[WebhookHeaderOut]
    createdAt: str | None = None
    destinationType: str = "rest"
    hmacEnabled: bool = False
    status: Literal["active", "disabled"] = Field("active", description="disabled after a 410; POST …/enable")
    statusReason: str | None = None
    updatedAt: str | None = None


class SearchableTotal(BaseModel):
    all: int
    filtered: int
    estimated: bool = False


class WebhookSubscriptionList(BaseModel):
    items: list[WebhookSubscriptionDetails]
    total: SearchableTotal


class WebhookSecretOut(BaseModel):
    webhookSubscriptionId: str
    secret: str = Field(description="The new whsec_… signing secret, returned once")


class WebhookTestSent(BaseModel):
    messageId: str


class WebhookAttemptOut(BaseModel):
    messageId: str
    requestId: str | None = None
    eventName: str
    attempt: int = Field(description="1 for the first attempt")
    outcome: str = Field(description="delivered | retry | dead | gone | deferred | refused")
    status: int | None = Field(None, description="HTTP status, when the endpoint answered")
    error: str | None = None
    attemptedAt: str
    durationMs: int
    nextAttemptAt: str | None = Field(None, description="When the next attempt is due, after a retryable failure")


class WebhookAttemptList(BaseModel):
    items: list[WebhookAttemptOut]
    total: int


class DeadLetterOut(BaseModel):
    messageId: str
    subscriptionId: str | None = None
    eventName: str
    customerId: str | None = None
    reason: str | None = None
    lastStatus: int | None = None
    lastError: str | None = None
    attempts: int
    deadAt: str | None = None
    partition: int
    offset: int


class DeadLetterList(BaseModel):
    items: list[DeadLetterOut]
    total: int


class DeadLetterRangeIn(_In):
    partition: int = Field(ge=0)
    fromOffset: int = Field(0, ge=0)
    toOffset: int | None = Field(None, ge=0, description="Exclusive; default: the partition's end")
    subscriptionId: str | None = None
    reason: str | None = None


class ResendSkipped(BaseModel):
    messageId: str
    reason: str


class ResendResult(BaseModel):
    resent: int
    messageIds: list[str]
    skipped: list[ResendSkipped] = Field(default_factory=list)


class CustomerUpdateIn(_CustomerFields):
    """PutMember: the fields given replace the member's; ``active: false`` deactivates (our extension)."""


class MemberUpdateRequest(_In):
    customer: CustomerUpdateIn


class MemberUpdated(BaseModel):
    customerId: str
