"""privacy engine

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 12:43:39.537384
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


# P8.2: the disclosure log is append-only: the database itself refuses to change or remove a
# row, whatever the code above it does.
SQLITE_APPEND_ONLY = [
    "CREATE TRIGGER disclosure_log_no_update BEFORE UPDATE ON disclosure_log "
    "BEGIN SELECT RAISE(ABORT, 'disclosure_log is append-only'); END",
    "CREATE TRIGGER disclosure_log_no_delete BEFORE DELETE ON disclosure_log "
    "BEGIN SELECT RAISE(ABORT, 'disclosure_log is append-only'); END",
]
POSTGRES_APPEND_ONLY = [
    "CREATE FUNCTION disclosure_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'disclosure_log is append-only'; END $$",
    "CREATE TRIGGER disclosure_log_no_change BEFORE UPDATE OR DELETE ON disclosure_log "
    "FOR EACH ROW EXECUTE FUNCTION disclosure_log_append_only()",
]


def upgrade() -> None:
    op.create_table(
        "disclosure_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "partner_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("partner_name", sa.String(length=256), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("exported_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disclosure_log")),
    )
    op.create_table(
        "draws",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("seed", sa.String(length=128), nullable=False),
        sa.Column("eligible_count", sa.Integer(), nullable=False),
        sa.Column("drawn_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_draws")),
    )
    op.create_table(
        "erasure_cooldowns",
        sa.Column("phone_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("until", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("phone_hash", name=op.f("pk_erasure_cooldowns")),
    )
    op.create_table(
        "partners",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("proposed_at", sa.Float(), nullable=False),
        sa.Column("notice_until", sa.Float(), nullable=False),
        sa.Column("exported_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partners")),
    )
    op.create_table(
        "policy_versions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("important", sa.Boolean(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("published_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_versions")),
        sa.UniqueConstraint("version", name=op.f("uq_policy_versions_version")),
    )
    op.create_table(
        "usage_daily",
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("feature", sa.String(length=64), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "feature", name=op.f("pk_usage_daily")),
    )
    op.create_table(
        "admin_access",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("admin_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "subject_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["users.id"],
            name=op.f("fk_admin_access_subject_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_access")),
    )
    with op.batch_alter_table("admin_access", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_admin_access_subject_id"), ["subject_id"], unique=False
        )

    op.create_table(
        "admins",
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("granted_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_admins_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_admins")),
    )
    op.create_table(
        "consents",
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_consents_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "category", name=op.f("pk_consents")),
    )
    op.create_table(
        "draw_winners",
        sa.Column("draw_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("notified_at", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["draw_id"],
            ["draws.id"],
            name=op.f("fk_draw_winners_draw_id_draws"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_draw_winners_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("draw_id", "user_id", name=op.f("pk_draw_winners")),
    )
    op.create_table(
        "notices",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("ref_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("seen_at", sa.Float(), nullable=True),
        sa.Column("acknowledged_at", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_notices_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notices")),
        sa.UniqueConstraint("user_id", "kind", "ref_id", name="uq_notices_user_kind_ref"),
    )
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notices_user_id"), ["user_id"], unique=False)

    op.create_table(
        "partner_objections",
        sa.Column(
            "partner_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("objected_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_partner_objections_partner_id_partners"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_partner_objections_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("partner_id", "user_id", name=op.f("pk_partner_objections")),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("suspended_at", sa.Float(), nullable=True))

    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in SQLITE_APPEND_ONLY if sqlite else POSTGRES_APPEND_ONLY:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS disclosure_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS disclosure_log_no_delete")
    else:
        op.execute("DROP TRIGGER IF EXISTS disclosure_log_no_change ON disclosure_log")
        op.execute("DROP FUNCTION IF EXISTS disclosure_log_append_only()")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("suspended_at")

    op.drop_table("partner_objections")
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notices_user_id"))

    op.drop_table("notices")
    op.drop_table("draw_winners")
    op.drop_table("consents")
    op.drop_table("admins")
    with op.batch_alter_table("admin_access", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_admin_access_subject_id"))

    op.drop_table("admin_access")
    op.drop_table("usage_daily")
    op.drop_table("policy_versions")
    op.drop_table("partners")
    op.drop_table("erasure_cooldowns")
    op.drop_table("draws")
    op.drop_table("disclosure_log")
