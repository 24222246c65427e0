"""disappearing messages (P5.3): a chat's timer, a user's default, a message's expiry

``chats.message_ttl`` (seconds, NULL: off), ``users.default_message_ttl`` (given to the chats
the user creates) and ``messages.expires_at`` (fixed when the message is stored), with a partial
index of the messages that have a timer and are not removed yet: the expiry sweep reads only
what is due.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

EXPIRING = "expires_at IS NOT NULL AND deleted_at IS NULL"


def upgrade() -> None:
    op.add_column("users", sa.Column("default_message_ttl", sa.Integer(), nullable=True))
    op.add_column("chats", sa.Column("message_ttl", sa.Integer(), nullable=True))
    op.add_column("messages", sa.Column("expires_at", sa.Float(), nullable=True))
    op.create_index(
        "ix_messages_expiring",
        "messages",
        ["expires_at"],
        sqlite_where=sa.text(EXPIRING),
        postgresql_where=sa.text(EXPIRING),
    )


def downgrade() -> None:
    op.drop_index("ix_messages_expiring", table_name="messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("expires_at")
    with op.batch_alter_table("chats") as batch:
        batch.drop_column("message_ttl")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("default_message_ttl")
