"""a partial index of the owners and admins of chats

A channel's owner sees its admins, and an owner who leaves (or is erased) hands the channel
to the oldest admin. Without this index both read every membership row of the channel, which
is every subscriber: about 20 ms at 100,000 subscribers on SQLite and PostgreSQL, ten times
that at a million, on each look of the owner at their channel. The index holds only the
owner and admin rows of every chat, so the same reads cost the few rows they return.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

STAFF_ROLES = "role IN ('owner', 'admin')"


def upgrade() -> None:
    op.create_index(
        "ix_chat_members_staff",
        "chat_members",
        ["chat_id", "joined_at", "user_id"],
        sqlite_where=sa.text(STAFF_ROLES),
        postgresql_where=sa.text(STAFF_ROLES),
    )


def downgrade() -> None:
    op.drop_index("ix_chat_members_staff", table_name="chat_members")
