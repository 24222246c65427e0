"""The privacy data map (P7.1), read off the annotations in ``tables.py``: one source of
truth for ``payam data-map``, docs/privacy.md and, later, export, erasure and retention."""

from __future__ import annotations

from dataclasses import dataclass

from payam.storage.tables import metadata


@dataclass(frozen=True, slots=True)
class PersonalField:
    table: str
    column: str
    category: str
    purposes: tuple[str, ...]
    retention: str


def personal_fields() -> list[PersonalField]:
    found = []
    for table in metadata.sorted_tables:
        for column in table.columns:
            category = column.info.get("personal")
            if category is None:
                continue
            found.append(
                PersonalField(
                    table.name,
                    column.name,
                    str(category),
                    tuple(column.info.get("purpose", ())),
                    str(column.info.get("retention")),
                )
            )
    return found


def markdown() -> str:
    """The map as a Markdown table (docs/privacy.md carries it; a test keeps them equal)."""
    lines = ["| field | category | purposes | retention |", "|---|---|---|---|"]
    lines += [
        f"| `{f.table}.{f.column}` | {f.category} | {', '.join(f.purposes)} | {f.retention} |"
        for f in personal_fields()
    ]
    return "\n".join(lines)
