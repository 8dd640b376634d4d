"""Moved to ``loyalty_stream.catalog`` (the API reads achievements too); kept so existing imports work."""

from loyalty_stream.catalog import AchievementCatalog, parse_record

__all__ = ["AchievementCatalog", "parse_record"]
