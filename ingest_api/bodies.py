"""Bodies of the read, update and batch endpoints (the create endpoints' bodies are in ``models.py``).

Requests are pydantic models, lenient as Open Loyalty's forms are. Responses of the read endpoints are
rendered as plain dicts by the domain views and ``ingest_api.views``; the models below only describe
them in our OpenAPI (``extra="allow"`` mirrors the contract, which closes none of these shapes).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from ingest_api.models import MemberCreated, SchemaActive, SchemaFields

NonEmpty255 = Annotated[str, StringConstraints(min_length=1, max_length=255)]


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")


# -- requests --------------------------------------------------------------------------------------------
class CustomEventSchemaUpdateIn(_In):
    eventType: str | None = Field(None, description="Immutable: if given it must equal the path's eventType")
    name: NonEmpty255
    schema_: SchemaFields = Field(alias="schema")
    active: SchemaActive | None = Field(None, description="Kept as it is when absent")


class CustomEventSchemaUpdateRequest(_In):
    customEventSchema: CustomEventSchemaUpdateIn


class SchemaActivationRequest(_In):
    active: StrictBool


class CustomEventBatchRequest(_In):
    events: list[Any] = Field(
        description="Custom events, each as the `event` object of POST /customEvent; validated one by one"
    )


class MemberBatchRequest(_In):
    members: list[Any] = Field(
        description="Members, each as the `customer` object of POST /member; validated and claimed one by one"
    )


# -- responses -------------------------------------------------------------------------------------------
class Total(BaseModel):
    all: int
    filtered: int
    estimated: bool = Field(False, description="true when `filtered` is a lower bound (a scan stopped early)")


class Scroll(BaseModel):
    next: str | None = Field(description="Pass as `_scroll` for the next page; null after the last page")


class ItemProblem(BaseModel):
    message: str
    parameters: dict[str, Any] = Field(default_factory=dict)
    plural: int = 1
    code: str = Field(description='A validation code, or "503" when the broker did not acknowledge the item')
    path: str = Field(description="From the request root, e.g. events[3].body.minutes")


class BatchItemAccepted(BaseModel):
    customEventId: str


class BatchItemRejected(BaseModel):
    errors: list[ItemProblem]


class CustomEventBatchResponse(BaseModel):
    items: list[BatchItemAccepted | BatchItemRejected] = Field(description="One result per event, in request order")


class MemberBatchResponse(BaseModel):
    items: list[MemberCreated | BatchItemRejected] = Field(description="One result per member, in request order")


class AchievementBasic(_Out):
    achievementId: str
    name: str
    active: bool
    createdAt: str | None = None


class AchievementList(BaseModel):
    items: list[AchievementBasic]
    total: Total


class AchievementDetails(_Out):
    achievementId: str
    translations: dict[str, Any]
    active: bool
    activity: dict[str, Any]
    rules: list[dict[str, Any]]
    limit: dict[str, Any] | None = Field(None, description="Absent when the achievement has no completion limit")


class CustomEventSchemaOut(_Out):
    eventType: str
    name: str
    schema_: dict[str, Any] = Field(alias="schema", description="{fields: [{name, type, description}]}")
    active: bool
    createdAt: str | None = None


class CustomEventSchemaList(BaseModel):
    items: list[CustomEventSchemaOut]
    total: Total


class _Decided(_Out):
    """What became of an input (docs/domain.md §0): ours, beside the contract's fields."""

    outcome: str = Field(description="counted | no_effect | parked | unmatched | dead_lettered")
    reason: str | None = Field(description="Why it had no effect / was not counted; null when counted")
    reasons: dict[str, str] = Field(description="achievementId → reason, for listening achievements it did not change")
    changedAchievements: list[str] = Field(default_factory=list)


class CustomEventOut(_Decided):
    customEventId: str
    customerId: str | None = Field(None, description="The member it was matched to; absent until matched")
    type: str
    eventName: str | None = Field(None, description="The schema's name")
    customerData: dict[str, str]
    body: dict[str, Any] = Field(description="The body as received (the contract's array-of-maps is a deviation)")
    eventDate: str | None = Field(None, description="In store time with its offset; absent if the record's is no date")
    createdAt: str | None = None
    eventId: str | None = None


class _Page(BaseModel):
    """A list answer: its items (each list names their type) and its page or scroll position."""

    items: list[Any]
    total: Total | None = Field(None, description="Page mode")
    scroll: Scroll | None = Field(None, description="Scroll mode (`_scroll`)")


class CustomEventList(_Page):
    items: list[CustomEventOut]


class MemberOut(_Out):
    customerId: str
    active: bool
    email: str | None = None
    phone: str | None = None
    loyaltyCardNumber: str | None = None
    firstName: str | None = None
    lastName: str | None = None
    registeredAt: str | None = None
    createdAt: str | None = None
    updatedAt: str | None = None
    storeCode: str


class MemberList(_Page):
    items: list[MemberOut]


class MemberAchievementOut(_Out):
    achievementId: str
    achievementName: str
    achievementDescription: str
    limitReached: bool
    memberProgress: dict[str, Any] = Field(description="{completedCount, rules: [...]} as of now in store time")


class MemberAchievementList(BaseModel):
    items: list[MemberAchievementOut]
    total: Total


# -- transactions (Open Loyalty's PostTransaction and Transaction) ------------------------------------------
# The request models document the body; loyalty_stream/domain/transactions.py is its one validation.
class TransactionLabel(BaseModel):
    key: str
    value: str


class TransactionItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: str
    name: str
    grossValue: float
    category: str
    maker: str | None = None
    quantity: int | None = Field(None, description="Required if highPrecisionQuantity is not given (deprecated)")
    highPrecisionQuantity: float | None = Field(None, description="Required if quantity is not given")
    labels: list[TransactionLabel] = Field(default_factory=list)


class TransactionHeaderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    documentNumber: str = Field(description="The same documentNumber again is the same transaction (counted once)")
    documentType: str = Field("sell", description="sell | return (a return counts towards no achievement)")
    linkedDocumentNumber: str | None = Field(None, description="For a return: the sell document it refers to")
    purchasedAt: str = Field(description="ISO-8601; without an offset it is the store's local time")
    purchasePlace: str | None = None
    labels: list[TransactionLabel] = Field(default_factory=list)


class TransactionCustomerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customerId: str | None = None
    email: str | None = None
    phone: str | None = None
    loyaltyCardNumber: str | None = None
    name: str | None = None
    nip: str | None = None
    address: dict[str, Any] | None = None


class TransactionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    header: TransactionHeaderIn
    items: list[TransactionItemIn]
    customerData: TransactionCustomerIn | None = Field(None, description="Matches it to a member; optional")
    channelId: str | None = None


class TransactionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    transaction: TransactionIn


class TransactionCreated(BaseModel):
    transactionId: str


class TransactionOut(_Decided):
    transactionId: str
    customerId: str | None = Field(None, description="The member it was matched to; absent while unmatched")
    matched: bool
    grossValue: float
    header: dict[str, Any]
    items: list[dict[str, Any]]
    customerData: dict[str, str]
    channelId: str | None = None
    createdAt: str | None = None


class TransactionList(BaseModel):
    """As the contract has it: in scroll mode ``scroll`` is the next page's cursor (null after the last)."""

    items: list[TransactionOut]
    total: Total | None = Field(None, description="Page mode")
    scroll: str | None = Field(None, description="Scroll mode (`_scroll`): the cursor of the next page")


class TransactionAssignIn(_In):
    transactionDocumentNumber: NonEmpty255
    customerId: NonEmpty255 | None = None
    customerLoyaltyCardNumber: NonEmpty255 | None = None
    customerPhoneNumber: NonEmpty255 | None = None


class TransactionAssignRequest(_In):
    assign: TransactionAssignIn


class TransactionAssigned(BaseModel):
    transactionId: str
    customerId: str
