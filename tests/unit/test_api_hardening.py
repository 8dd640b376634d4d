"""API hardening, the pure parts: token buckets, JSON limits, dates, the body guard (an ASGI app, no server)."""

from __future__ import annotations

import asyncio
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from ingest_api.body_guard import BodyGuard, is_json
from ingest_api.errors import RateLimited
from ingest_api.rate_limit import RateLimiter
from ingest_api.routes.achievements import merge_patch
from ingest_api.routes.member_reads import customer_view
from ingest_api.strict import MAX_SAFE_INTEGER, json_problems, rfc3339
from loyalty_stream.config.settings import Settings
from loyalty_stream.domain import parse_achievement, parse_event_date
from tests.support.flows import LOGIN_STREAK

WARSAW = ZoneInfo("Europe/Warsaw")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# -- rate limits ----------------------------------------------------------------------------------------
def test_a_store_gets_its_burst_then_429_with_retry_after() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=2.0, burst=3, clock=clock)
    for _ in range(3):
        limiter.check("DEFAULT")
    with pytest.raises(RateLimited) as refused:
        limiter.check("DEFAULT")
    assert refused.value.status == 429
    assert refused.value.headers() == {"Retry-After": "1"}  # 0.5 s to the next token, rounded up
    assert refused.value.body()["code"] == 429


def test_buckets_are_per_store_and_refill_at_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=1.0, burst=1, clock=clock)
    limiter.check("DEFAULT")
    limiter.check("OTHER")  # another store has its own bucket
    with pytest.raises(RateLimited):
        limiter.check("DEFAULT")
    clock.now += 1.0
    limiter.check("DEFAULT")


def test_retry_after_is_whole_seconds_until_a_token() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=0.25, burst=1, clock=clock)
    limiter.check("DEFAULT")
    with pytest.raises(RateLimited) as refused:
        limiter.check("DEFAULT")
    assert refused.value.retry_after == 4


def test_rate_zero_turns_the_limit_off() -> None:
    limiter = RateLimiter(rate=0, burst=1)
    for _ in range(100):
        limiter.check("DEFAULT")


def test_defaults_do_not_throttle_tests_or_benchmarks() -> None:
    settings = Settings()
    assert settings.api_rate_limit_per_second >= 20000
    assert settings.api_rate_limit_burst >= 40000


# -- JSON limits ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "path", "code"),
    [
        ({"a": "x" * 256}, "event.body.a", "too_long"),
        ({"k" * 256: 1}, "event.body." + "k" * 32 + "…", "too_long"),
        ({"n": MAX_SAFE_INTEGER + 1}, "event.body.n", "out_of_range"),
        ({"n": -(MAX_SAFE_INTEGER + 1)}, "event.body.n", "out_of_range"),
        ({"n": 1.2345678901234568e29}, "event.body.n", "out_of_range"),  # what 10**30 becomes in the guard
        ({"f": float("inf")}, "event.body.f", "not_finite"),
        ({"f": float("nan")}, "event.body.f", "not_finite"),
        ({"l": [1, ["y" * 300]]}, "event.body.l[1][0]", "too_long"),
    ],
)
def test_json_limits(value: Any, path: str, code: str) -> None:
    problems = json_problems(value, "event.body")
    assert [(p.path, p.code) for p in problems] == [(path, code)]


def test_json_within_limits_passes() -> None:
    value = {"a": "x" * 255, "n": MAX_SAFE_INTEGER, "f": -2.5e15, "b": True, "z": None, "l": [{"k": "v"}]}
    assert json_problems(value, "event.body") == []


def test_nesting_is_bounded() -> None:
    deep: Any = "leaf"
    for _ in range(40):
        deep = {"d": deep}
    assert [p.code for p in json_problems(deep, "x")] == ["too_deep"]


def test_long_text_keys_may_hold_longer_strings() -> None:
    body = {"translations": {"en": {"name": "n", "description": "d" * 2000}}}
    assert json_problems(body, "achievement", long_text=("description",)) == []
    body["translations"]["en"]["name"] = "n" * 256
    assert [p.path for p in json_problems(body, "achievement", long_text=("description",))] == [
        "achievement.translations.en.name"
    ]


# -- dates ----------------------------------------------------------------------------------------------
def test_dates_outside_the_calendar_are_value_errors_not_overflows() -> None:
    # Year 1 in Warsaw is year 0 in UTC: parse_event_date's conversion raised OverflowError (a 500).
    with pytest.raises(ValueError):
        parse_event_date("0001-01-01T00:00:00", WARSAW)
    with pytest.raises(ValueError):
        parse_event_date("9999-12-31T23:59:59-05:00", ZoneInfo("UTC"))
    assert parse_event_date("2024-05-01T10:00:00", WARSAW).isoformat() == "2024-05-01T10:00:00+02:00"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01T10:00:00Z", "2024-05-01T10:00:00Z"),
        ("2024-05-01T10:00:00.5+02:00", "2024-05-01T10:00:00.5+02:00"),
        ("2000-01-01", "2000-01-01T00:00:00+01:00"),
        ("2024-05-01 10:00", "2024-05-01T10:00:00+02:00"),
        ("2024-13-45T99:99:99Z", None),
        ("yesterday", None),
        (5, None),
        (None, None),
    ],
)
def test_rfc3339(value: Any, expected: str | None) -> None:
    assert rfc3339(value, WARSAW) == expected


# -- regressions found by schemathesis ----------------------------------------------------------------------
def test_customer_view_skips_labels_without_a_string_value() -> None:
    # A registration's extra fields are stored as sent; a label without "value" made GET /member a 500.
    record = {
        "customerId": "c1",
        "storeCode": "DEFAULT",
        "active": True,
        "registeredAt": "2024-05-01T10:00:00Z",
        "attributes": orjson.dumps(
            {"labels": [{"key": "a"}, {"key": "b", "value": 1}, {"key": "c", "value": "ok"}, "x"]}
        ).decode(),
    }
    assert customer_view(record)["labels"] == [{"key": "c", "value": "ok"}]


def test_customer_view_dates_are_rfc3339_date_times() -> None:
    # The contract's Customer has date-time registeredAt/createdAt/birthDate; a registration's birthDate is
    # a date, and a record from upstream may hold anything: rendered as date-times or left out.
    record = {
        "customerId": "c1",
        "storeCode": "OTHER",
        "registeredAt": "2024-05-01 10:00",
        "updatedAt": "not a date",
        "attributes": orjson.dumps({"birthDate": "2000-01-01", "gender": "f"}).decode(),
    }
    view = customer_view(record, WARSAW)
    assert view["registeredAt"] == view["createdAt"] == "2024-05-01T10:00:00+02:00"
    assert "updatedAt" not in view
    assert view["birthDate"] == "2000-01-01T00:00:00+01:00"
    record["attributes"] = orjson.dumps({"birthDate": "soon"}).decode()
    assert "birthDate" not in customer_view(record, WARSAW)


def test_patch_with_an_object_as_rule_id_is_a_400_not_a_500() -> None:
    from ingest_api.errors import BadRequest

    stored = parse_achievement(LOGIN_STREAK["achievement"], achievement_id="a1", store_code="DEFAULT", rules_version=1)
    with pytest.raises(BadRequest) as refused:
        merge_patch(stored, {"rules": [{"achievementRuleId": {}, "translations": {"en": {}}}]})
    assert refused.value.problems[0].path == "achievement.rules[0].achievementRuleId"


# -- the body guard -------------------------------------------------------------------------------------
class Recorder:
    """An ASGI app that records the body it received."""

    def __init__(self) -> None:
        self.body: bytes | None = None
        self.headers: dict[bytes, bytes] = {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        self.body = b"".join(chunks)
        self.headers = dict(scope["headers"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def _call(
    guard: BodyGuard, path: str, chunks: list[bytes], headers: list[tuple[bytes, bytes]]
) -> tuple[int, dict[bytes, bytes], bytes]:
    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "headers": headers}
    asyncio.run(guard(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], dict(start.get("headers", [])), body


def _guard(app: Recorder) -> BodyGuard:
    return BodyGuard(app, Settings(api_max_body_bytes=1024, api_batch_max_bytes=4096))


JSON = [(b"content-type", b"application/json")]


def test_declared_length_over_the_limit_is_413_before_reading() -> None:
    app = Recorder()
    declared = [*JSON, (b"content-length", b"2000")]
    status, _headers, body = _call(_guard(app), "/api/DEFAULT/customEvent", [b"{}"], declared)
    assert status == 413 and app.body is None
    assert orjson.loads(body) == {"code": 413, "message": "Request body too large: the limit is 1024 bytes"}


def test_streamed_body_over_the_limit_is_413() -> None:
    app = Recorder()
    status, _h, _b = _call(_guard(app), "/api/DEFAULT/customEvent", [b"[" + b"1," * 300, b"1," * 300 + b"1]"], JSON)
    assert status == 413 and app.body is None


def test_the_batch_path_has_its_own_limit_and_is_passed_as_sent() -> None:
    app = Recorder()
    raw = b'{"events": [' + b" " * 2000 + b"]}"
    status, _h, _b = _call(_guard(app), "/api/DEFAULT/customEvent/batch", [raw], JSON)
    assert status == 200 and app.body == raw
    status, _h, _b = _call(_guard(Recorder()), "/api/DEFAULT/customEvent/batch", [b" " * 5000], JSON)
    assert status == 413


@pytest.mark.parametrize(
    "raw",
    [b'{"a": NaN}', b'{"a": Infinity}', b'{"a": 1e400}', b'{"a": "\\ud800"}', b"\xff\xfe{}", b'{"a": 1', b"{}{}"],
)
def test_bodies_that_are_not_strict_json_are_400_at_body(raw: bytes) -> None:
    app = Recorder()
    status, _h, body = _call(_guard(app), "/api/DEFAULT/customEvent", [raw], JSON)
    assert status == 400 and app.body is None
    error = orjson.loads(body)
    assert error["code"] == 400 and [e["path"] for e in error["errors"]] == ["body"]


def test_strict_json_reaches_the_app_re_encoded_with_its_length() -> None:
    app = Recorder()
    raw = b'{ "a" : 123456789012345678901234567890 , "b": "\\u00e9" }'
    status, _h, _b = _call(_guard(app), "/api/DEFAULT/customEvent", [raw], JSON)
    assert status == 200
    assert orjson.loads(app.body or b"") == {"a": 1.2345678901234568e29, "b": "é"}  # a finite float, not a bigint
    assert app.headers[b"content-length"] == str(len(app.body or b"")).encode()


def test_non_json_bodies_pass_untouched() -> None:
    app = Recorder()
    status, _h, _b = _call(_guard(app), "/api/DEFAULT/customEvent", [b"NaN"], [(b"content-type", b"text/plain")])
    assert status == 200 and app.body == b"NaN"


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        (None, True),
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("application/merge-patch+json", True),
        ("text/plain", False),
        ("multipart/form-data; boundary=x", False),
    ],
)
def test_is_json(content_type: str | None, expected: bool) -> None:
    assert is_json(content_type) is expected
