"""The configuration table in the README, generated from the settings object (a test keeps them equal)."""

from __future__ import annotations

from loyalty_stream.settings import Settings

BEGIN = "<!-- settings-table:begin -->"
END = "<!-- settings-table:end -->"


def settings_table() -> str:
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.default
        if name == "kafka_cache_dir":
            default = "~/.cache/loyalty-stream"
        shown = "" if default in ("", None) else str(getattr(default, "get_secret_value", lambda: default)())
        rows.append(f"| `LOYALTY_{name.upper()}` | `{shown}` | {field.description or ''} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(settings_table())
