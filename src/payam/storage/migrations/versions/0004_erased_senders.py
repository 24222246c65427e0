"""erased senders: messages.sender_id nullable, ON DELETE SET NULL

When an account is erased (P11.3), its messages are tombstoned like a delete for everyone and
stay as rows without text, so every other member's seqs stay gapless; the row can no longer
name its sender, and deleting the user must not delete the tombstones with it (it did:
ON DELETE CASCADE). A NULL sender means "a deleted account".

On SQLite, removing a NOT NULL and changing a foreign-key action does not change how rows are
stored, so the table's declaration is edited in place (the procedure of SQLite's ALTER TABLE
documentation for such changes) instead of rebuilding ``messages``: a rebuild would drop the
full-text triggers and, with foreign keys on, cascade into hidden_messages and reports.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 14:00:00
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_FK = "fk_messages_sender_id_users"
_NOT_NULL = "sender_id INTEGER NOT NULL,"
_NULLABLE = "sender_id INTEGER,"
_CASCADE = f"CONSTRAINT {_FK} FOREIGN KEY(sender_id) REFERENCES users (id) ON DELETE CASCADE"
_SET_NULL = f"CONSTRAINT {_FK} FOREIGN KEY(sender_id) REFERENCES users (id) ON DELETE SET NULL"


def _sqlite_edit(replacements: list[tuple[str, str]]) -> None:
    bind = op.get_bind()
    sql = bind.execute(
        text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'messages'")
    ).scalar_one()
    for old, new in replacements:
        if old not in sql:
            raise RuntimeError(f"messages is not declared as expected: {old!r} not found")
        sql = sql.replace(old, new)
    version = bind.execute(text("PRAGMA schema_version")).scalar_one()
    bind.execute(text("PRAGMA writable_schema = ON"))
    bind.execute(
        text("UPDATE sqlite_master SET sql = :sql WHERE type = 'table' AND name = 'messages'"),
        {"sql": sql},
    )
    bind.execute(text(f"PRAGMA schema_version = {int(version) + 1}"))
    bind.execute(text("PRAGMA writable_schema = OFF"))


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_edit([(_NOT_NULL, _NULLABLE), (_CASCADE, _SET_NULL)])
        return
    op.alter_column("messages", "sender_id", nullable=True)
    op.drop_constraint(_FK, "messages", type_="foreignkey")
    op.create_foreign_key(_FK, "messages", "users", ["sender_id"], ["id"], ondelete="SET NULL")


def downgrade() -> None:
    # Tombstones of erased accounts cannot name a sender again: they go.
    op.execute("DELETE FROM messages WHERE sender_id IS NULL")
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_edit([(_NULLABLE, _NOT_NULL), (_SET_NULL, _CASCADE)])
        return
    op.drop_constraint(_FK, "messages", type_="foreignkey")
    op.create_foreign_key(_FK, "messages", "users", ["sender_id"], ["id"], ondelete="CASCADE")
    op.alter_column("messages", "sender_id", nullable=False)
