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
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
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
