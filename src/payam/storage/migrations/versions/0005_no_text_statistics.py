"""no planner statistics on message text (P5.3)

PostgreSQL's ANALYZE keeps samples of column values in pg_statistic (most common values,
histogram bounds): whole message texts and indexed words, which outlive the deletion of the
message until the next ANALYZE. The planner needs no statistics on message text, so none are
gathered, and the ones already gathered are replaced now. SQLite keeps no such samples.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE messages ALTER COLUMN text SET STATISTICS 0")
    op.execute("ALTER INDEX ix_messages_text_search ALTER COLUMN 1 SET STATISTICS 0")
    op.execute("ANALYZE messages")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE messages ALTER COLUMN text SET STATISTICS -1")
    op.execute("ALTER INDEX ix_messages_text_search ALTER COLUMN 1 SET STATISTICS -1")
