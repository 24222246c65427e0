"""The privacy data map as the doors show it (P7.1): ``GET /v1/privacy/map``, ``payam privacy
map``. Read off the schema's annotations by ``storage.data_map``; nothing here is hand-kept."""

from __future__ import annotations

from typing import Any

from payam.storage import data_map


def personal_fields() -> list[dict[str, Any]]:
    return [
        {
            "table": f.table,
            "column": f.column,
            "category": f.category,
            "purposes": list(f.purposes),
            "retention": f.retention,
        }
        for f in data_map.personal_fields()
    ]


def personal_files() -> list[dict[str, Any]]:
    """Personal data kept in files of the data directory (the SMS outbox), declared alike."""
    return [
        {
            "file": f.file,
            "field": f.field,
            "category": f.category,
            "purposes": list(f.purposes),
            "retention": f.retention,
        }
        for f in data_map.personal_files()
    ]


def markdown() -> str:
    return data_map.markdown()
