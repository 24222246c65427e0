"""the SQLite search index follows edits (one trigger per edit, then a rebuild); media keep
their file name

Two changes of issue 9, in one revision. First, the search index:

Migration 0002 kept the FTS5 index in step with an edit by two ``AFTER UPDATE OF text``
triggers, one removing the old text and one adding the new. SQLite runs triggers on the same
event most recently created first, so the new text was added before the old was removed; the
removal then took the shared words (``alpha bravo`` of "alpha bravo gamma" edited to "alpha
bravo delta") out of the new entry too, and left the index inconsistent with its content
(``integrity-check`` failed, and the edited message was no longer found by its kept words).

The two triggers become one whose body removes the old text and then adds the new, in that
order, whatever order SQLite fires triggers in, and every row gets an entry (an empty one for a
NULL text), so the index matches its content table row for row. The index is then rebuilt from the messages
table, which repairs databases damaged by earlier edits; a rebuild reads only what is stored
now, so nothing removed comes back (P5.3). PostgreSQL's index is an expression index over the
row itself and was never affected: nothing changes there.

Second, ``media.name``: the file name the uploader sent, sanitised, served in
Content-Disposition (personal data: in the data map, the export, erased with the uploader).
Uploads made before have none and are served under their id, as before.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# Every row has an entry, an empty one while its text is NULL (a file without a caption, a
# message deleted for everyone): the index then matches its content table row for row, which
# is what FTS5's integrity check (with content) verifies. 0002 skipped NULL texts, so an entry
# made by a rebuild could outlive its row.
_DELETE_OLD = (
    "INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.id, old.text);"
)
_INSERT_NEW = "INSERT INTO messages_fts(rowid, text) VALUES (new.id, new.text);"
TRIGGERS = [
    f"CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN {_INSERT_NEW} END",
    f"CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN {_DELETE_OLD} END",
    # One trigger, old text out and then new text in, in this order inside one body.
    "CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages "
    f"BEGIN {_DELETE_OLD} {_INSERT_NEW} END",
]
# 0002's triggers, for the downgrade.
OLD_TRIGGERS = [
    "CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages WHEN new.text IS NOT NULL "
    "BEGIN INSERT INTO messages_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages WHEN old.text IS NOT NULL "
    "BEGIN INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.id, old.text);"
    " END",
    "CREATE TRIGGER messages_fts_update_old AFTER UPDATE OF text ON messages "
    "WHEN old.text IS NOT NULL BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.id, old.text); END",
    "CREATE TRIGGER messages_fts_update_new AFTER UPDATE OF text ON messages "
    "WHEN new.text IS NOT NULL BEGIN "
    "INSERT INTO messages_fts(rowid, text) VALUES (new.id, new.text); END",
]
OLD_NAMES = ("insert", "delete", "update_old", "update_new")
NEW_NAMES = ("insert", "delete", "update")
REBUILD = "INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')"


def upgrade() -> None:
    with op.batch_alter_table("media", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name", sa.String(length=255), nullable=True))
    if op.get_bind().dialect.name != "sqlite":
        return
    for name in OLD_NAMES:
        op.execute(f"DROP TRIGGER IF EXISTS messages_fts_{name}")
    for statement in TRIGGERS:
        op.execute(statement)
    # Repairs an index damaged by 0002's edit triggers; nothing removed comes back (P5.3).
    op.execute(REBUILD)


def downgrade() -> None:
    with op.batch_alter_table("media", schema=None) as batch_op:
        batch_op.drop_column("name")
    if op.get_bind().dialect.name != "sqlite":
        return
    for name in NEW_NAMES:
        op.execute(f"DROP TRIGGER IF EXISTS messages_fts_{name}")
    for statement in OLD_TRIGGERS:
        op.execute(statement)
