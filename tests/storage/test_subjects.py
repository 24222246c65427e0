"""P11.1, P11.3: every table with personal data says whose it is, so export and erasure (which
iterate over these annotations) cannot miss a table."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table

from payam.storage import privacy
from payam.storage.tables import metadata, not_personal, personal, subject


def missing(schema: MetaData) -> list[str]:
    problems = []
    for table in schema.sorted_tables:
        found = privacy.subject_of(table)
        if privacy.has_personal_columns(table) and found is None:
            problems.append(f"{table.name}: personal columns but no subject annotation")
        if found is None:
            continue
        for name in (*found.user_columns, *([found.phone_hash] if found.phone_hash else [])):
            if name not in table.c:
                problems.append(f"{table.name}: subject column {name} does not exist")
        if found.via is not None and found.via not in schema.tables:
            problems.append(f"{table.name}: reached via unknown table {found.via}")
        if not (found.user_columns or found.phone_hash or found.note):
            problems.append(f"{table.name}: no subject column and no note saying why")
    return problems


def test_every_table_with_personal_columns_names_its_subject() -> None:
    assert missing(metadata) == []


def test_a_table_added_without_a_subject_is_caught() -> None:
    schema = MetaData()
    Table(
        "diary",
        schema,
        Column("id", Integer, primary_key=True, info=not_personal()),
        Column("entry", String, info=personal("diary", ["P5.1"], "account")),
    )
    assert missing(schema) == ["diary: personal columns but no subject annotation"]


def test_a_subject_column_that_does_not_exist_is_caught() -> None:
    schema = MetaData()
    Table(
        "diary",
        schema,
        Column("id", Integer, primary_key=True, info=not_personal()),
        Column("entry", String, info=personal("diary", ["P5.1"], "account")),
        info=subject("owner_id"),
    )
    assert missing(schema) == ["diary: subject column owner_id does not exist"]


@pytest.mark.parametrize(
    ("table", "columns"),
    [
        ("users", ("id",)),
        ("messages", ("sender_id",)),
        ("blocks", ("blocker_id", "blocked_id")),
        ("admin_access", ("subject_id",)),
    ],
)
def test_special_cases_name_the_right_columns(table: str, columns: tuple[str, ...]) -> None:
    found = privacy.subject_of(metadata.tables[table])
    assert found is not None
    assert found.user_columns == columns


def test_chats_are_reached_through_their_members() -> None:
    found = privacy.subject_of(metadata.tables["chats"])
    assert found is not None
    assert found.via == "chat_members"
