"""P7.1: every stored field declares whether it is personal, and if so why and for how long.

The schema is the data map: each column carries ``info={"personal": None}`` or
``info={"personal": <category>, "purpose": [<P-ids>], "retention": <name>}``. A column added
without it fails here, with its ``table.column`` named; so does a purpose that is not a promise
of ``PROMISES.md`` or a retention period that has no name in ``storage/tables.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table
from typer.testing import CliRunner

from payam.cli.main import app as cli
from payam.storage import tables
from payam.storage.tables import metadata, not_personal, personal

PROMISE_ID = re.compile(r"^P\d+\.\d+$")
PROMISES = Path(__file__).resolve().parents[3] / "shared" / "PROMISES.md"

# The retention names tables.py declares (ACCOUNT = "account", ...); periods are configuration.
RETENTIONS = {
    value
    for name, value in vars(tables).items()
    if name.isupper() and isinstance(value, str) and not name.startswith("_")
}


def promise_ids() -> set[str] | None:
    """The P-ids of PROMISES.md (None when the shared folder is not beside the repository)."""
    if not PROMISES.is_file():
        return None
    return set(re.findall(r"^- (P\d+\.\d+)\b", PROMISES.read_text(), flags=re.MULTILINE))


def problems(schema: MetaData, known_promises: set[str] | None) -> list[str]:
    found = []
    for table in schema.sorted_tables:
        for column in table.columns:
            where = f"{table.name}.{column.name}"
            info = column.info
            if "personal" not in info:
                found.append(f"{where}: no data-map annotation (personal(...) or not_personal())")
                continue
            category = info["personal"]
            if category is None:
                if set(info) & {"purpose", "retention"}:
                    found.append(f"{where}: not personal, yet has a purpose or retention")
                continue
            if not isinstance(category, str) or not category:
                found.append(f"{where}: category must be a non-empty name, not {category!r}")
            purposes = info.get("purpose")
            if not isinstance(purposes, list) or not purposes:
                found.append(f"{where}: personal data needs at least one purpose (P-id)")
                purposes = []
            for purpose in purposes:
                if not isinstance(purpose, str) or not PROMISE_ID.match(purpose):
                    found.append(f"{where}: purpose {purpose!r} is not a P-id like P1.2")
                elif known_promises is not None and purpose not in known_promises:
                    found.append(f"{where}: purpose {purpose} is not a promise in PROMISES.md")
            retention = info.get("retention")
            if retention not in RETENTIONS:
                found.append(f"{where}: retention {retention!r} is not one of {sorted(RETENTIONS)}")
    return found


def test_retention_names_are_declared() -> None:
    assert {"account", "device", "access_log"} <= RETENTIONS


def test_promises_file_lists_the_promises() -> None:
    known = promise_ids()
    if known is None:
        pytest.skip(f"{PROMISES} not found (shared/ lives beside the repository)")
    assert {"P1.1", "P7.1", "P9.2", "P12.1"} <= known


def test_every_column_of_every_table_is_in_the_data_map() -> None:
    assert metadata.tables, "no tables?"
    found = problems(metadata, promise_ids())
    assert not found, "columns missing from the data map (P7.1):\n" + "\n".join(found)


def test_personal_data_is_declared_where_it_obviously_is() -> None:
    """A guard against the lazy fix of marking everything not personal."""
    for where in ("users.phone", "users.name", "devices.model", "access_log.ip"):
        table, column = where.split(".")
        assert metadata.tables[table].c[column].info["personal"], where


def test_the_check_names_each_offending_column() -> None:
    schema = MetaData()
    Table(
        "things",
        schema,
        Column("id", Integer, primary_key=True, info=not_personal()),
        Column("secret", String),
        Column("nick", String, info=personal("name", ["P99.9"], "account")),
        Column("note", String, info=personal("note", ["soon"], "forever")),
        Column("empty", String, info={"personal": "x", "purpose": [], "retention": "account"}),
    )
    found = "\n".join(problems(schema, {"P1.1"}))
    assert "things.secret: no data-map annotation" in found
    assert "things.nick: purpose P99.9 is not a promise" in found
    assert "things.note: purpose 'soon' is not a P-id" in found
    assert "things.note: retention 'forever'" in found
    assert "things.empty: personal data needs at least one purpose" in found
    assert "things.id" not in found


def test_the_server_prints_its_data_map() -> None:
    result = CliRunner().invoke(cli, ["data-map"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for table in metadata.sorted_tables:
        for column in table.columns:
            if column.info.get("personal"):
                assert f"{table.name}.{column.name}" in result.output
    assert "users.id " not in result.output
