"""who may see a profile through a chat, who may add a user to groups, group invitations (P3.2)

Being put in a chat by a stranger no longer opens one's profile to them (issue 9, defect 1):

- ``chat_members.shows_profile``: whether the member's profile is shown to the chat's other
  members. Existing memberships keep it where the member spoke for themself: they created the
  chat or sent a message in it. Everyone else is hidden until they send a message (who added
  whom, or who joined by a link, was not recorded before; hiding is the safe side).
- ``users.group_adds``: "everyone" or "contacts"; NULL is the server's default.
- ``group_invitations``: pending invitations for users the inviter could not add directly.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("group_adds", sa.String(16), nullable=True))
    with op.batch_alter_table("chat_members") as batch:
        batch.add_column(
            sa.Column(
                "shows_profile", sa.Boolean(), nullable=False, server_default=sa.text("false")
            )
        )
    op.execute(
        sa.text(
            "UPDATE chat_members SET shows_profile = true WHERE "
            "user_id = (SELECT chats.created_by FROM chats WHERE chats.id = chat_members.chat_id)"
            " OR EXISTS (SELECT 1 FROM messages WHERE messages.chat_id = chat_members.chat_id"
            " AND messages.sender_id = chat_members.user_id)"
        )
    )
    op.create_table(
        "group_invitations",
        sa.Column("id", Id, primary_key=True),
        sa.Column("chat_id", Id, nullable=False),
        sa.Column("user_id", Id, nullable=False),
        sa.Column("invited_by", Id, nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["chat_id"],
            ["chats.id"],
            name="fk_group_invitations_chat_id_chats",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name="fk_group_invitations_user_id_users",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["invited_by"],
            ["users.id"],
            name="fk_group_invitations_invited_by_users",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_group_invitations"),
        sa.UniqueConstraint("chat_id", "user_id", name="uq_group_invitations_chat_user"),
    )
    op.create_index("ix_group_invitations_chat_id", "group_invitations", ["chat_id"])
    op.create_index("ix_group_invitations_user_id", "group_invitations", ["user_id"])
    op.create_index("ix_group_invitations_invited_by", "group_invitations", ["invited_by"])


def downgrade() -> None:
    op.drop_table("group_invitations")
    with op.batch_alter_table("chat_members") as batch:
        batch.drop_column("shows_profile")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("group_adds")
