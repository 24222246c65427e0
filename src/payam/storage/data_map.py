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


@dataclass(frozen=True, slots=True)
class PersonalFileField:
    """Personal data kept in a file of the data directory rather than in a table."""

    file: str  # relative to the data directory
    field: str
    category: str
    purposes: tuple[str, ...]
    retention: str


# Files outside the database that hold personal data, each field with the same declaration as
# a column's. Their retention and erasure are kept by the code that writes them (named here).
PERSONAL_FILES = (
    # adapters/sms.py OutboxSms: pruned by the retention job after sms_outbox_retention_hours,
    # a user's lines erased with the account (services/erasure.py).
    PersonalFileField("sms-outbox.jsonl", "to", "phone", ("P1.2", "P2.1"), "sms_outbox"),
    PersonalFileField("sms-outbox.jsonl", "text", "credential", ("P1.2", "P2.1"), "sms_outbox"),
    PersonalFileField("sms-outbox.jsonl", "at", "access", ("P1.2",), "sms_outbox"),
)


def personal_files() -> list[PersonalFileField]:
    return list(PERSONAL_FILES)


def markdown() -> str:
    """The map as Markdown tables (docs/privacy.md carries it; a test keeps them equal)."""
    lines = ["| field | category | purposes | retention |", "|---|---|---|---|"]
    lines += [
        f"| `{f.table}.{f.column}` | {f.category} | {', '.join(f.purposes)} | {f.retention} |"
        for f in personal_fields()
    ]
    lines += [
        "",
        "Files in the data directory:",
        "",
        "| file: field | category | purposes | retention |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| `{f.file}`: `{f.field}` | {f.category} | {', '.join(f.purposes)} | {f.retention} |"
        for f in personal_files()
    ]
    return "\n".join(lines)
