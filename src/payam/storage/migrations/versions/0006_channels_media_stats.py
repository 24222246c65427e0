"""channels, media and channel statistics

Channels are chats of type "channel" with a public handle (unique case-insensitively through
``handle_key``) and a description; their posts carry view and forward counts (NULL on other
messages). Media are uploaded files attached to messages through ``message_media``. View
deduplication keeps only keyed hashes under daily salts (``view_marks``, ``view_salts``), and
channel statistics are aggregate counts (``channel_stats``) that name nobody (P10.1).

Every change adds columns or tables, which SQLite's ALTER TABLE ADD COLUMN does in place.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("chats", sa.Column("handle", sa.String(32), nullable=True))
    op.add_column("chats", sa.Column("handle_key", sa.String(32), nullable=True))
    op.add_column("chats", sa.Column("description", sa.Text(), nullable=True))
    op.create_index("uq_chats_handle_key", "chats", ["handle_key"], unique=True)
    op.add_column("messages", sa.Column("views", sa.BigInteger(), nullable=True))
    op.add_column("messages", sa.Column("forwards", sa.BigInteger(), nullable=True))

    op.create_table(
        "media",
        sa.Column("id", Id, nullable=False),
        sa.Column("owner_id", Id, nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("mime", sa.String(128), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("blob_key", sa.String(128), nullable=False),
        sa.Column("thumb_key", sa.String(128), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("attached_at", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name="fk_media_owner_id_users", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_media"),
    )
    op.create_index("ix_media_owner_id", "media", ["owner_id"])
    op.create_index("ix_media_blob_key", "media", ["blob_key"])
    op.create_index("ix_media_thumb_key", "media", ["thumb_key"])

    op.create_table(
        "message_media",
        sa.Column("message_id", Id, nullable=False),
        sa.Column("media_id", Id, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name="fk_message_media_message_id_messages",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["media_id"], ["media.id"], name="fk_message_media_media_id_media", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("message_id", "media_id", name="pk_message_media"),
    )
    op.create_index("ix_message_media_media_id", "message_media", ["media_id"])

    op.create_table(
        "view_salts",
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("salt", sa.LargeBinary(32), nullable=False),
        sa.PrimaryKeyConstraint("day", name="pk_view_salts"),
    )
    op.create_table(
        "view_marks",
        sa.Column("mark", sa.LargeBinary(16), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("mark", name="pk_view_marks"),
    )
    op.create_index("ix_view_marks_day", "view_marks", ["day"])
    op.create_table(
        "channel_stats",
        sa.Column("chat_id", Id, nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("metric", sa.String(32), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["chat_id"], ["chats.id"], name="fk_channel_stats_chat_id_chats", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("chat_id", "day", "metric", "key", name="pk_channel_stats"),
    )


def downgrade() -> None:
    op.drop_table("channel_stats")
    op.drop_index("ix_view_marks_day", table_name="view_marks")
    op.drop_table("view_marks")
    op.drop_table("view_salts")
    op.drop_index("ix_message_media_media_id", table_name="message_media")
    op.drop_table("message_media")
    op.drop_index("ix_media_thumb_key", table_name="media")
    op.drop_index("ix_media_blob_key", table_name="media")
    op.drop_index("ix_media_owner_id", table_name="media")
    op.drop_table("media")
    # Channels cannot be told apart from groups once their handle is gone: they go.
    op.execute("DELETE FROM chats WHERE type = 'channel'")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("forwards")
        batch.drop_column("views")
    op.drop_index("uq_chats_handle_key", table_name="chats")
    with op.batch_alter_table("chats") as batch:
        batch.drop_column("description")
        batch.drop_column("handle_key")
        batch.drop_column("handle")
