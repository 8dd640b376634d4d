"""faust-streaming, aiokafka and mode-streaming: pinned to what processors/faust_compat.py was checked with,
and the processor refuses to start on anything else."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from processors import faust_compat

ROOT = Path(__file__).resolve().parents[2]


def test_pyproject_pins_exactly_what_the_patches_were_checked_with() -> None:
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = {}
    for spec in dependencies:
        found = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[^\]]*\])?==([0-9.]+)", spec)
        if found:
            pins[found.group(1)] = found.group(3)
    assert {name: pins.get(name) for name in faust_compat.TESTED_WITH} == faust_compat.TESTED_WITH


def test_other_versions_are_refused_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    faust_compat.check_versions()  # the installed ones pass
    monkeypatch.setattr(
        faust_compat, "version", lambda name: "9.9.9" if name == "aiokafka" else faust_compat.TESTED_WITH[name]
    )
    with pytest.raises(faust_compat.UnsupportedVersions) as refused:
        faust_compat.check_versions()
    assert "\n" not in str(refused.value) and "aiokafka 9.9.9 (needs 0.14.0)" in str(refused.value)
