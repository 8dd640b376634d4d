"""Our OpenAPI serves every webhook operation of Open Loyalty's contract, and marks what we add as ours."""

from __future__ import annotations

from ingest_api.app import create_app
from loyalty_stream.config.settings import Settings
from tests.support.contract import contract


def test_webhook_paths_keep_the_contract_and_add_operations_apart() -> None:
    ours = create_app(Settings()).openapi()["paths"]
    theirs = {p: v for p, v in contract()["paths"].items() if "/webhook/" in p}
    assert theirs
    for path, operations in theirs.items():
        for method, operation in operations.items():
            success = next(code for code in operation["responses"] if str(code).startswith("2"))
            assert str(success) in ours[path][method]["responses"], (path, method)
            assert ours[path][method]["tags"] == ["Webhook subscription"]
    extras = {p for p in ours if "/webhook/" in p} - set(theirs)
    assert extras == {
        "/api/{storeCode}/webhook/subscription/{webhookSubscription}/secret",
        "/api/{storeCode}/webhook/subscription/{webhookSubscription}/enable",
        "/api/{storeCode}/webhook/subscription/{webhookSubscription}/test",
        "/api/{storeCode}/webhook/subscription/{webhookSubscription}/attempts",
        "/api/{storeCode}/webhook/deadLetter",
        "/api/{storeCode}/webhook/deadLetter/{messageId}/resend",
        "/api/{storeCode}/webhook/deadLetter/resend",
    }
    for path in extras:
        for operation in ours[path].values():
            assert operation["tags"] == ["Webhook operations"]
