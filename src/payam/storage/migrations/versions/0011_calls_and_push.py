"""call records in messages, and Web Push subscriptions

A call's record is a message of ``kind`` "call" whose ``call`` column holds its outcome as
JSON (P5.1); ordinary messages keep ``kind`` NULL. One Web Push subscription per device,
removed with the device.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("messages", sa.Column("kind", sa.String(16), nullable=True))
    op.add_column("messages", sa.Column("call", sa.Text(), nullable=True))
    op.create_table(
        "push_subscriptions",
        sa.Column("device_id", Id, nullable=False),
        sa.Column("user_id", Id, nullable=False),
        sa.Column("endpoint", sa.Text(), nullable=False),
        sa.Column("p256dh", sa.String(128), nullable=False),
        sa.Column("auth", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name="fk_push_subscriptions_device_id_devices",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name="fk_push_subscriptions_user_id_users",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("device_id", name="pk_push_subscriptions"),
    )
    op.create_index("ix_push_subscriptions_user_id", "push_subscriptions", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_push_subscriptions_user_id", table_name="push_subscriptions")
    op.drop_table("push_subscriptions")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("call")
        batch.drop_column("kind")
