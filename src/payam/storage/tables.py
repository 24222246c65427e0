"""The schema, which is also the privacy data map (P7.1).

Every column says what it holds where it is declared: ``personal(...)`` for a column that can
hold personal data (category, the P-ids it serves, how long it is kept) and ``not_personal()``
for one that cannot. ``tests/storage/test_data_map.py`` fails when a column has neither, so the
map cannot drift from the schema. Times are seconds since the epoch (float).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Retention names; their periods are configuration (see docs/privacy.md).
ACCOUNT = "account"  # as long as the account exists; erased with it
DEVICE = "device"  # as long as the device stays signed in
ACCESS_LOG = "access_log"  # access_log_retention_days
CODE = "code"  # code_ttl_seconds, then the throttling counters for code_retention_seconds
RATE_LIMIT = "rate_limit"  # until the bucket is full again
CHAT = "chat"  # as long as the chat exists; a member's copy goes when they leave and delete it
MESSAGE = "message"  # until deleted by the user (P5.2), then gone from disk (P5.3)
UPDATES = "updates"  # updates_retention_days, then clients resync from the chat list


def personal(category: str, purposes: list[str], retention: str) -> dict[str, Any]:
    return {"personal": category, "purpose": purposes, "retention": retention}


def not_personal() -> dict[str, Any]:
    return {"personal": None}


# A 64-bit integer on PostgreSQL and SQLite's rowid alias on SQLite (autoincrementing there).
Id = BigInteger().with_variant(Integer(), "sqlite")

users = Table(
    "users",
    metadata,
    Column("id", Id, primary_key=True, info=not_personal()),
    Column(
        "phone",
        String(20),
        nullable=False,
        unique=True,
        info=personal("phone", ["P1.1", "P1.2", "P1.5"], ACCOUNT),
    ),
    # HMAC-SHA256(secret, E.164): what uploaded contacts are matched against (P2.2).
    Column(
        "phone_hash",
        LargeBinary(32),
        nullable=False,
        unique=True,
        info=personal("phone_hash", ["P2.1"], ACCOUNT),
    ),
    Column("name", String(256), nullable=False, info=personal("name", ["P1.3", "P3.1"], ACCOUNT)),
    Column("status", String(512), nullable=True, info=personal("status", ["P3.1"], ACCOUNT)),
    Column("photo_key", String(128), nullable=True, info=personal("photo", ["P3.1"], ACCOUNT)),
    Column(
        "photo_thumb_key", String(128), nullable=True, info=personal("photo", ["P3.1"], ACCOUNT)
    ),
    Column("created_at", Float, nullable=False, info=personal("account_time", ["P1.3"], ACCOUNT)),
    Column("updated_at", Float, nullable=False, info=personal("account_time", ["P3.1"], ACCOUNT)),
)

devices = Table(
    "devices",
    metadata,
    Column("id", Id, primary_key=True, info=not_personal()),
    Column(
        "user_id",
        Id,
        ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
        info=personal("user_ref", ["P1.4"], DEVICE),
    ),
    # SHA-256 of the bearer token: the token itself is never stored.
    Column(
        "token_hash",
        LargeBinary(32),
        nullable=False,
        unique=True,
        info=personal("credential", ["P9.1"], DEVICE),
    ),
    Column("model", String(128), nullable=False, info=personal("device", ["P4.1"], DEVICE)),
    Column("os", String(128), nullable=False, info=personal("device", ["P4.1"], DEVICE)),
    Column("app_version", String(64), nullable=False, info=personal("device", ["P4.1"], DEVICE)),
    Column("created_at", Float, nullable=False, info=personal("device", ["P1.4"], DEVICE)),
    Column("last_active_at", Float, nullable=False, info=personal("device", ["P1.4"], DEVICE)),
    Column("last_ip", String(64), nullable=True, info=personal("ip", ["P4.2"], DEVICE)),
)

# One row per number that asked for a code; keyed by the number's HMAC, never the number.
auth_codes = Table(
    "auth_codes",
    metadata,
    Column(
        "phone_hash", LargeBinary(32), primary_key=True, info=personal("phone_hash", ["P1.2"], CODE)
    ),
    # HMAC-SHA256(secret, phone_hash || code); NULL once used or burned.
    Column(
        "code_hash", LargeBinary(32), nullable=True, info=personal("credential", ["P1.2"], CODE)
    ),
    Column("expires_at", Float, nullable=False, info=not_personal()),
    Column("attempts", Integer, nullable=False, default=0, info=not_personal()),
    Column("sends_in_window", Integer, nullable=False, default=0, info=not_personal()),
    Column("last_sent_at", Float, nullable=False, info=not_personal()),
)

contacts = Table(
    "contacts",
    metadata,
    Column(
        "user_id",
        Id,
        ForeignKey("users.id", ondelete="CASCADE"),
        primary_key=True,
        info=personal("user_ref", ["P2.1"], ACCOUNT),
    ),
    # HMAC-SHA256(secret, E.164) of an uploaded number (P2.2): no names, no raw numbers.
    Column(
        "phone_hash",
        LargeBinary(32),
        primary_key=True,
        index=True,
        info=personal("contact_hash", ["P2.1"], ACCOUNT),
    ),
    Column("created_at", Float, nullable=False, info=not_personal()),
)

# Token buckets of domain.limits; the key is "<limit name>:<hex HMAC of the subject>".
rate_limits = Table(
    "rate_limits",
    metadata,
    Column(
        "key", String(128), primary_key=True, info=personal("limit_subject", ["P9.2"], RATE_LIMIT)
    ),
    Column("tokens", Float, nullable=False, info=not_personal()),
    Column("updated_at", Float, nullable=False, info=not_personal()),
)

# P4.2: one row per request, for troubleshooting and efficiency only; pruned after retention.
access_log = Table(
    "access_log",
    metadata,
    Column("id", Id, primary_key=True, info=not_personal()),
    Column("at", Float, nullable=False, index=True, info=personal("access", ["P4.2"], ACCESS_LOG)),
    Column(
        "user_id",
        Id,
        ForeignKey("users.id", ondelete="CASCADE"),
        nullable=True,
        info=personal("user_ref", ["P4.2"], ACCESS_LOG),
    ),
    Column("device_id", Id, nullable=True, info=personal("device", ["P4.2"], ACCESS_LOG)),
    Column("ip", String(64), nullable=True, info=personal("ip", ["P4.2"], ACCESS_LOG)),
    Column(
        "browser_family", String(64), nullable=True, info=personal("browser", ["P4.2"], ACCESS_LOG)
    ),
    Column(
        "browser_version", String(32), nullable=True, info=personal("browser", ["P4.2"], ACCESS_LOG)
    ),
    Column("method", String(8), nullable=False, info=not_personal()),
    Column("route", String(128), nullable=False, info=not_personal()),
    Column("status", Integer, nullable=False, info=not_personal()),
    Column("duration_ms", Float, nullable=False, info=not_personal()),
)
Index("ix_access_log_user_id", access_log.c.user_id)


# --- Messaging (P5.1, P5.2, P5.3) -------------------------------------------------------------

chats = Table(
    "chats",
    metadata,
    Column("id", Id, primary_key=True, info=not_personal()),
    Column("type", String(16), nullable=False, info=not_personal()),
    Column("title", String(256), nullable=True, info=personal("chat_content", ["P5.1"], CHAT)),
    Column("photo_key", String(128), nullable=True, info=personal("chat_content", ["P5.1"], CHAT)),
    Column(
        "photo_thumb_key",
        String(128),
        nullable=True,
        info=personal("chat_content", ["P5.1"], CHAT),
    ),
    # "<smaller user id>:<larger user id>" for direct chats: one chat per pair.
    Column(
        "direct_key",
        String(64),
        nullable=True,
        unique=True,
        info=personal("user_ref", ["P5.1"], CHAT),
    ),
    Column(
        "created_by",
        Id,
        ForeignKey("users.id", ondelete="SET NULL"),
        nullable=True,
        info=personal("user_ref", ["P5.1"], CHAT),
    ),
    Column("created_at", Float, nullable=False, info=not_personal()),
    # The seq of the newest message: seqs are per chat, 1, 2, 3, ... without gaps.
    Column("last_seq", BigInteger, nullable=False, default=0, info=not_personal()),
    Column("member_count", Integer, nullable=False, default=0, info=not_personal()),
)

chat_members = Table(
    "chat_members",
    metadata,
    Column(
        "chat_id",
        Id,
        ForeignKey("chats.id", ondelete="CASCADE"),
        primary_key=True,
        info=not_personal(),
    ),
    Column(
        "user_id",
        Id,
        ForeignKey("users.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
        info=personal("membership", ["P5.1"], CHAT),
    ),
    Column("role", String(16), nullable=False, info=personal("membership", ["P5.1"], CHAT)),
    Column("joined_at", Float, nullable=False, info=personal("membership", ["P5.1"], CHAT)),
    # Read marker: the member has read every message up to this seq (read receipts).
    Column(
        "read_seq",
        BigInteger,
        nullable=False,
        default=0,
        info=personal("read_receipt", ["P5.1"], CHAT),
    ),
    # History cleared "for me" up to this seq (P5.2).
    Column("cleared_seq", BigInteger, nullable=False, default=0, info=not_personal()),
    Column(
        "muted", Boolean, nullable=False, default=False, info=personal("preference", ["P5.1"], CHAT)
    ),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Id, primary_key=True, info=not_personal()),
    Column(
        "chat_id",
        Id,
        ForeignKey("chats.id", ondelete="CASCADE"),
        nullable=False,
        info=not_personal(),
    ),
    Column("seq", BigInteger, nullable=False, info=not_personal()),
    Column(
        "sender_id",
        Id,
        ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        info=personal("user_ref", ["P5.1"], MESSAGE),
    ),
    # Chosen by the sending device: (sender, client_id) makes a send idempotent.
    Column("client_id", String(64), nullable=False, info=not_personal()),
    # NULL once deleted for everyone: the row stays as a tombstone so seqs have no gaps.
    Column("text", Text, nullable=True, info=personal("message_content", ["P5.1"], MESSAGE)),
    # SHA-256 of the content as sent, to tell a retry from a different send (409); NULL once
    # deleted, since a hash of deleted text is still a trace of it.
    Column(
        "content_hash",
        LargeBinary(32),
        nullable=True,
        info=personal("message_content", ["P5.1"], MESSAGE),
    ),
    Column("reply_to", Id, nullable=True, info=not_personal()),
    Column("forward_of", Id, nullable=True, info=not_personal()),
    Column("forward_from_user_id", Id, nullable=True, info=personal("user_ref", ["P5.1"], MESSAGE)),
    Column("created_at", Float, nullable=False, info=personal("message_meta", ["P5.1"], MESSAGE)),
    Column("edited_at", Float, nullable=True, info=personal("message_meta", ["P5.1"], MESSAGE)),
    Column("deleted_at", Float, nullable=True, info=not_personal()),
    UniqueConstraint("chat_id", "seq", name="uq_messages_chat_seq"),
    UniqueConstraint("sender_id", "client_id", name="uq_messages_sender_client"),
)

# "Delete for me" (P5.2): the message is hidden from this user alone.
hidden_messages = Table(
    "hidden_messages",
    metadata,
    Column(
        "user_id",
        Id,
        ForeignKey("users.id", ondelete="CASCADE"),
        primary_key=True,
        info=personal("user_ref", ["P5.2"], MESSAGE),
    ),
    Column(
        "message_id",
        Id,
        ForeignKey("messages.id", ondelete="CASCADE"),
        primary_key=True,
        info=not_personal(),
    ),
)

# Every change a user should see, with a per-user strictly increasing seq. Rows refer to
# messages by id and never copy their text, so deleting a message leaves nothing here.
updates = Table(
    "updates",
    metadata,
    Column(
        "user_id",
        Id,
        ForeignKey("users.id", ondelete="CASCADE"),
        primary_key=True,
        info=personal("user_ref", ["P5.1"], UPDATES),
    ),
    Column("seq", BigInteger, primary_key=True, info=not_personal()),
    Column("kind", String(32), nullable=False, info=not_personal()),
    Column("chat_id", Id, nullable=True, info=not_personal()),
    Column("message_id", Id, nullable=True, info=not_personal()),
    # Small JSON facts (a read marker, a member id, a role), never message text.
    Column("payload", Text, nullable=True, info=personal("update_meta", ["P5.1"], UPDATES)),
    Column("created_at", Float, nullable=False, index=True, info=not_personal()),
)

update_counters = Table(
    "update_counters",
    metadata,
    Column(
        "user_id",
        Id,
        ForeignKey("users.id", ondelete="CASCADE"),
        primary_key=True,
        info=personal("user_ref", ["P5.1"], ACCOUNT),
    ),
    Column("last_seq", BigInteger, nullable=False, default=0, info=not_personal()),
)

blocks = Table(
    "blocks",
    metadata,
    Column(
        "blocker_id",
        Id,
        ForeignKey("users.id", ondelete="CASCADE"),
        primary_key=True,
        info=personal("block", ["P9.1"], ACCOUNT),
    ),
    Column(
        "blocked_id",
        Id,
        ForeignKey("users.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
        info=personal("block", ["P9.1"], ACCOUNT),
    ),
    Column("created_at", Float, nullable=False, info=not_personal()),
)

# Reports are kept for moderators. They point at the message; if its author deletes it for
# everyone, the text is gone for moderators too (P5.3 wins).
reports = Table(
    "reports",
    metadata,
    Column("id", Id, primary_key=True, info=not_personal()),
    Column(
        "reporter_id",
        Id,
        ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        info=personal("report", ["P9.2"], ACCOUNT),
    ),
    Column(
        "message_id",
        Id,
        ForeignKey("messages.id", ondelete="SET NULL"),
        nullable=True,
        info=not_personal(),
    ),
    Column(
        "chat_id",
        Id,
        ForeignKey("chats.id", ondelete="SET NULL"),
        nullable=True,
        info=not_personal(),
    ),
    Column(
        "reported_user_id",
        Id,
        ForeignKey("users.id", ondelete="SET NULL"),
        nullable=True,
        info=personal("report", ["P9.2"], ACCOUNT),
    ),
    Column("reason", String(512), nullable=False, info=personal("report", ["P9.2"], ACCOUNT)),
    Column("created_at", Float, nullable=False, info=not_personal()),
    Column("status", String(16), nullable=False, default="open", info=not_personal()),
)

chat_invites = Table(
    "chat_invites",
    metadata,
    Column("token", String(64), primary_key=True, info=not_personal()),
    Column(
        "chat_id",
        Id,
        ForeignKey("chats.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
        info=not_personal(),
    ),
    Column(
        "created_by",
        Id,
        ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        info=personal("user_ref", ["P5.1"], CHAT),
    ),
    Column("created_at", Float, nullable=False, info=not_personal()),
    Column("revoked_at", Float, nullable=True, info=not_personal()),
)

# Full-text search lives beside the declared tables, made by migration 0002: on SQLite the FTS5
# table messages_fts (and its shadow tables messages_fts_*) with triggers, on PostgreSQL an
# expression GIN index. Schema comparisons leave these alone.
SEARCH_OBJECTS = frozenset({"messages_fts", "ix_messages_text_search"})


def is_declared_object(name: str | None) -> bool:
    """False for the search objects above, which the metadata does not describe."""
    return not (name and (name in SEARCH_OBJECTS or name.startswith("messages_fts_")))
