"""schemathesis against a real ingest API: our own OpenAPI and Open Loyalty's contract (docs/reliability.md).

``tests/integration/test_schemathesis.py`` runs a short, bounded pass in ``make test``;
``python -m tests.fuzz`` starts its own broker and stack and runs a longer one (``--help``).
"""
