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


class CustomEventOut(_Out):
    customEventId: str
    customerId: str | None = Field(None, description="The member it was matched to; absent until matched")
    type: str
    eventName: str | None = Field(None, description="The schema's name")
    customerData: dict[str, str]
    body: dict[str, Any] = Field(description="The body as received (the contract's array-of-maps is a deviation)")
    eventDate: str | None = Field(None, description="In store time with its offset; absent if the record's is no date")
    createdAt: str | None = None
    eventId: str | None = None
    outcome: str = Field(description="counted | no_effect | parked | unmatched | dead_lettered")
    reason: str | None = Field(description="Why it had no effect / was not counted; null when counted")
    reasons: dict[str, str] = Field(description="achievementId → reason, for listening achievements it did not change")
    changedAchievements: list[str] = Field(default_factory=list)


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
