"""The domain core stays pure and strictly typed; the tree stays lint-clean."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = ROOT / "loyalty_stream" / "domain"


def test_domain_core_imports_no_kafka_or_asyncio() -> None:
    forbidden = ("faust", "aiokafka", "confluent_kafka", "asyncio", "fastapi", "httpx")
    for path in DOMAIN.rglob("*.py"):
        for line in path.read_text().splitlines():
            stripped = line.strip()
            if stripped.startswith(("import ", "from ")):
                assert not any(stripped.split()[1].split(".")[0] == name for name in forbidden), f"{path}: {line}"


def test_domain_core_passes_mypy_strict() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", str(DOMAIN)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_is_clean() -> None:
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "."], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
