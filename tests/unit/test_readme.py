"""The README opens with the two commands and carries the settings table generated from the settings object."""

from __future__ import annotations

from pathlib import Path

from loyalty_stream.config.settings_doc import BEGIN, END, settings_table

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_opens_with_the_two_commands() -> None:
    first_block = README.split("```sh", 1)[1].split("```", 1)[0]
    assert first_block.strip().splitlines()[0].startswith("make run")
    assert first_block.strip().splitlines()[1].startswith("make test")


def test_settings_table_is_current() -> None:
    table = README.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert table == settings_table(), "regenerate with: python -m loyalty_stream.config.settings_doc"
