"""The configuration table in the README, generated from the settings object (a test keeps them equal)."""

from __future__ import annotations

from pydantic import SecretStr

from loyalty_stream.config.settings import Settings

BEGIN = "<!-- settings-table:begin -->"
END = "<!-- settings-table:end -->"


def settings_table() -> str:
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = "~/.cache/loyalty-stream" if name == "kafka_cache_dir" else field.default
        if isinstance(default, SecretStr):
            default = default.get_secret_value()
        shown = "" if default in ("", None) else str(default)
        rows.append(f"| `LOYALTY_{name.upper()}` | `{shown}` | {field.description or ''} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(settings_table())
