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
    text,
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
CONSENT = "consent"  # as long as the account exists; the latest choice per category
NOTICE = "notice"  # as long as the account exists (which notices a user saw: P12.1, P8.2)
ADMIN_AUDIT = "admin_audit"  # admin_audit_retention_days; shown to the user in their export
COOLDOWN = "erasure_cooldown"  # erasure_cooldown_days after an account is deleted
DRAW = "draw"  # draw_retention_days after a prize draw
MEDIA = "media"  # while a message that carries it exists (P5.3); unattached: media_unattached_hours
INVITATION = "invitation"  # until accepted or declined, or the group or either account goes
VIEW_MARK = "view_mark"  # view_dedup_days, then dropped with the day's salt (P10.1)
PUSH = "push_subscription"  # while the device stays signed in, or until the push service drops it


def personal(category: str, purposes: list[str], retention: str) -> dict[str, Any]:
    return {"personal": category, "purpose": purposes, "retention": retention}


def not_personal() -> dict[str, Any]:
    return {"personal": None}


def subject(
    *user_columns: str, phone_hash: str | None = None, via: str | None = None, note: str = ""
) -> dict[str, Any]:
    """Table info: what ties a row to its data subject (P11.1, P11.3).

    ``user_columns`` hold a user id (a row belongs to each user named there); ``phone_hash``
    names a column holding the keyed hash of a number; ``via`` names a table through which the
    rows are reached (chats via chat_members). Export and erasure (``storage/privacy.py``)
    iterate over these; ``tests/storage/test_subjects.py`` fails when a table with personal
    columns has none.
    """
    return {
        "subject": {"user": list(user_columns), "phone_hash": phone_hash, "via": via, "note": note}
    }


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
    # P9: set by an operator; a suspended account cannot sign in or use its sessions.
    Column("suspended_at", Float, nullable=True, info=personal("moderation", ["P9.2"], ACCOUNT)),
    # Who may add this user to groups (P3.2): "everyone", or "contacts" (people whose number
    # the user holds); NULL is the server's ``group_adds_default``. Others send an invitation.
    Column("group_adds", String(16), nullable=True, info=personal("preference", ["P3.2"], ACCOUNT)),
    # P5.3: the disappearing-messages timer (seconds) given to the chats this user creates.
    Column(
        "default_message_ttl",
        Integer,
        nullable=True,
        info=personal("preference", ["P5.3"], ACCOUNT),
    ),
    info=subject("id"),
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
    info=subject("user_id"),
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
    info=subject(
        phone_hash="phone_hash", note="keyed by the hash of the number the code was sent to"
    ),
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
    info=subject(
        "user_id", note="the uploader; holders of a number are not its subject (the hash is theirs)"
    ),
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
    info=subject(
        note="keyed hashes of ids, numbers and addresses; unlinkable without the secret, "
        "gone when the bucket refills"
    ),
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
    info=subject("user_id"),
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
    # Channels (P5.1): the public handle as its owner wrote it, and lower-cased, which is what
    # makes it unique (handles are case-insensitive). NULL for direct chats and groups.
    Column("handle", String(32), nullable=True, info=personal("chat_content", ["P5.1"], CHAT)),
    Column("handle_key", String(32), nullable=True, info=personal("chat_content", ["P5.1"], CHAT)),
    Column("description", Text, nullable=True, info=personal("chat_content", ["P5.1"], CHAT)),
    # P5.3: disappearing messages: seconds a new message lives (NULL: off); see services/ttl.py.
    Column("message_ttl", Integer, nullable=True, info=not_personal()),
    info=subject(
        "created_by", via="chat_members", note="a member sees the chat; the creator is named"
    ),
)
Index("uq_chats_handle_key", chats.c.handle_key, unique=True)

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
    # Whether this member's profile is shown to the chat's other members (P3.2,
    # ``domain/visibility.py``): set when the member created or joined the chat themself, was
    # added by someone who holds their number, or sent a message in it; never by being put
    # in a chat by a stranger.
    Column(
        "shows_profile",
        Boolean,
        nullable=False,
        default=False,
        server_default=text("false"),
        info=personal("membership", ["P3.2"], CHAT),
    ),
    info=subject("user_id"),
)
# A channel's owner and admins, without visiting its (perhaps millions of) subscribers: the
# owner's view of a channel, the hand-over and erasure read this partial index
# (storage/channels.py ``staff``, whose WHERE repeats this one's literally, as SQLite needs).
STAFF_ROLES = "role IN ('owner', 'admin')"
Index(
    "ix_chat_members_staff",
    chat_members.c.chat_id,
    chat_members.c.joined_at,
    chat_members.c.user_id,
    sqlite_where=text(STAFF_ROLES),
    postgresql_where=text(STAFF_ROLES),
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
    # NULL once the sender's account was erased (P11.3): the tombstone stays, unattributed.
    Column(
        "sender_id",
        Id,
        ForeignKey("users.id", ondelete="SET NULL"),
        nullable=True,
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
    # Channel posts only (NULL elsewhere): how many distinct viewers saw the post, and how
    # often it was forwarded (P10.1). Counts, never who.
    Column("views", BigInteger, nullable=True, info=not_personal()),
    Column("forwards", BigInteger, nullable=True, info=not_personal()),
    # P5.3: when a message of a chat with a timer disappears (NULL: never), fixed when it is
    # stored. Past it no route or frame shows the message, and the retention task removes it
    # as a deletion for everyone (services/ttl.py).
    Column("expires_at", Float, nullable=True, info=not_personal()),
    # NULL for a message people wrote; "call" for a call's record (P5.1).
    Column("kind", String(16), nullable=True, info=not_personal()),
    # A call's record as JSON: {"id", "video", "outcome", "started_at", "duration_s"}. No SDP,
    # no ICE candidate, no address: those are relayed and never stored. NULL once deleted.
    Column("call", Text, nullable=True, info=personal("call_record", ["P5.1"], MESSAGE)),
    UniqueConstraint("chat_id", "seq", name="uq_messages_chat_seq"),
    UniqueConstraint("sender_id", "client_id", name="uq_messages_sender_client"),
    info=subject("sender_id", note="the sender; other members reach it through their chats"),
)

# What the expiry sweep reads (storage/ttl.py ``due``, whose WHERE repeats this one's
# literally, as SQLite needs): only messages with a timer that are not removed yet, so the
# sweep reads the few rows that are due, never the table, and tombstones leave the index.
EXPIRING = "expires_at IS NOT NULL AND deleted_at IS NULL"
Index(
    "ix_messages_expiring",
    messages.c.expires_at,
    sqlite_where=text(EXPIRING),
    postgresql_where=text(EXPIRING),
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
    info=subject("user_id"),
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
    info=subject("user_id"),
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
    info=subject("user_id"),
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
    info=subject("blocker_id", "blocked_id", note="both sides"),
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
    info=subject("reporter_id", "reported_user_id"),
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
    info=subject("created_by"),
)

# An invitation to a group, for a user whose "who can add me to groups" setting did not let
# the inviter add them (P3.2): pending until the invitee accepts (joins) or declines (the row
# goes), or the group or either account goes (cascade).
group_invitations = Table(
    "group_invitations",
    metadata,
    Column("id", Id, primary_key=True, info=not_personal()),
    Column(
        "chat_id",
        Id,
        ForeignKey("chats.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
        info=not_personal(),
    ),
    Column(
        "user_id",
        Id,
        ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
        info=personal("invitation", ["P3.2", "P5.1"], INVITATION),
    ),
    Column(
        "invited_by",
        Id,
        ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
        info=personal("invitation", ["P3.2", "P5.1"], INVITATION),
    ),
    Column("created_at", Float, nullable=False, info=personal("invitation", ["P5.1"], INVITATION)),
    UniqueConstraint("chat_id", "user_id", name="uq_group_invitations_chat_user"),
    info=subject("user_id", "invited_by", note="the invitee and the inviter"),
)

# --- Media (P3.3, P5.3, P9.2) -------------------------------------------------------------------

# One uploaded file. Its bytes live in the blob store under ``blob_key`` (content-addressed:
# equal files share one blob). A row is deleted when the last message carrying it is deleted,
# or when it was never attached within media_unattached_hours; the blob goes with the last row
# naming it (P5.3).
media = Table(
    "media",
    metadata,
    Column("id", Id, primary_key=True, info=not_personal()),
    Column(
        "owner_id",
        Id,
        ForeignKey("users.id", ondelete="SET NULL"),
        nullable=True,
        index=True,
        info=personal("user_ref", ["P5.1"], MEDIA),
    ),
    Column("kind", String(16), nullable=False, info=not_personal()),
    Column("mime", String(128), nullable=False, info=not_personal()),
    Column("size", BigInteger, nullable=False, info=not_personal()),
    Column("width", Integer, nullable=True, info=not_personal()),
    Column("height", Integer, nullable=True, info=not_personal()),
    Column(
        "blob_key",
        String(128),
        nullable=False,
        index=True,
        info=personal("media_content", ["P5.1", "P3.3"], MEDIA),
    ),
    Column(
        "thumb_key",
        String(128),
        nullable=True,
        index=True,
        info=personal("media_content", ["P5.1", "P3.3"], MEDIA),
    ),
    # The file name the uploader sent, sanitised (domain/file_names.py); served in
    # Content-Disposition. Personal: a name can say who or what ("sara-passport.pdf").
    Column("name", String(255), nullable=True, info=personal("file_name", ["P5.1"], MEDIA)),
    Column("created_at", Float, nullable=False, info=personal("message_meta", ["P5.1"], MEDIA)),
    # When it was first attached to a message; NULL while it is an unattached upload.
    Column("attached_at", Float, nullable=True, info=not_personal()),
    info=subject("owner_id", note="the uploader; members reach it through messages carrying it"),
)

message_media = Table(
    "message_media",
    metadata,
    Column(
        "message_id",
        Id,
        ForeignKey("messages.id", ondelete="CASCADE"),
        primary_key=True,
        info=not_personal(),
    ),
    Column(
        "media_id",
        Id,
        ForeignKey("media.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
        info=not_personal(),
    ),
    Column("position", Integer, nullable=False, info=not_personal()),
)

# --- Channel statistics without personal data (P10.1) -------------------------------------------

# One random salt per day (days since the epoch, UTC); dropped after view_dedup_days, which
# makes every mark made with it unlinkable to anyone.
view_salts = Table(
    "view_salts",
    metadata,
    Column("day", Integer, primary_key=True, info=not_personal()),
    Column("salt", LargeBinary(32), nullable=False, info=not_personal()),
)

# "Someone already counted here": HMAC(salt of the day, what + who), truncated. No user id,
# no post id in the clear; deleted with its salt.
view_marks = Table(
    "view_marks",
    metadata,
    Column(
        "mark", LargeBinary(16), primary_key=True, info=personal("view_mark", ["P10.1"], VIEW_MARK)
    ),
    Column("day", Integer, nullable=False, index=True, info=not_personal()),
    info=subject(
        note="keyed hashes under a daily salt; unlinkable once the salt is dropped, "
        "and dropped with it"
    ),
)

# Aggregates only: counts per channel, day, metric and coarse key ("" for the total,
# "cc:98" for a country calling code, "os:Android", "hour:13"). No row names a person.
channel_stats = Table(
    "channel_stats",
    metadata,
    Column(
        "chat_id",
        Id,
        ForeignKey("chats.id", ondelete="CASCADE"),
        primary_key=True,
        info=not_personal(),
    ),
    Column("day", Integer, primary_key=True, info=not_personal()),
    Column("metric", String(32), primary_key=True, info=not_personal()),
    Column("key", String(64), primary_key=True, info=not_personal()),
    Column("count", BigInteger, nullable=False, info=not_personal()),
)

# --- The privacy engine (P6, P7.2, P8, P9, P11, P12) ---------------------------------------

# P6.2: the user's choice per optional cookie category; no row means "not asked yet" (off).
consents = Table(
    "consents",
    metadata,
    Column(
        "user_id",
        Id,
        ForeignKey("users.id", ondelete="CASCADE"),
        primary_key=True,
        info=personal("consent", ["P6.2"], CONSENT),
    ),
    Column("category", String(32), primary_key=True, info=personal("consent", ["P6.2"], CONSENT)),
    Column("granted", Boolean, nullable=False, info=personal("consent", ["P6.2"], CONSENT)),
    Column("updated_at", Float, nullable=False, info=personal("consent", ["P6.2"], CONSENT)),
    info=subject("user_id"),
)

# P6.1/P7.2: usage statistics, only for users who allowed the statistics category; counted
# per day and feature without any user id.
usage_daily = Table(
    "usage_daily",
    metadata,
    Column("day", String(10), primary_key=True, info=not_personal()),
    Column("feature", String(64), primary_key=True, info=not_personal()),
    Column("count", BigInteger, nullable=False, default=0, info=not_personal()),
)

# P12.1: published policy versions.
policy_versions = Table(
    "policy_versions",
    metadata,
    Column("id", Id, primary_key=True, info=not_personal()),
    Column("version", String(64), nullable=False, unique=True, info=not_personal()),
    Column("important", Boolean, nullable=False, info=not_personal()),
    Column("text", Text, nullable=False, info=not_personal()),
    Column("sha256", String(64), nullable=False, info=not_personal()),
    Column("published_at", Float, nullable=False, info=not_personal()),
)

# P12.1, P8.2, P7.2: what a user was told (policy changes, partner proposals, prizes) and
# when they saw and acknowledged it.
notices = Table(
    "notices",
    metadata,
    Column("id", Id, primary_key=True, info=not_personal()),
    Column(
        "user_id",
        Id,
        ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
        info=personal("notice", ["P12.1", "P8.2"], NOTICE),
    ),
    Column("kind", String(32), nullable=False, info=personal("notice", ["P12.1", "P8.2"], NOTICE)),
    # The policy version, partner proposal or draw the notice is about.
    Column("ref_id", Id, nullable=False, info=not_personal()),
    Column("created_at", Float, nullable=False, info=personal("notice", ["P12.1"], NOTICE)),
    Column("seen_at", Float, nullable=True, info=personal("notice", ["P12.1"], NOTICE)),
    Column("acknowledged_at", Float, nullable=True, info=personal("notice", ["P12.1"], NOTICE)),
    UniqueConstraint("user_id", "kind", "ref_id", name="uq_notices_user_kind_ref"),
    info=subject("user_id"),
)

# P8.2: a proposed collaboration, the data categories involved and the notice period.
partners = Table(
    "partners",
    metadata,
    Column("id", Id, primary_key=True, info=not_personal()),
    Column("name", String(256), nullable=False, info=not_personal()),
    Column("purpose", Text, nullable=False, info=not_personal()),
    # JSON list of data-map fields ("users.name", ...) that would be shared.
    Column("fields", Text, nullable=False, info=not_personal()),
    Column("proposed_at", Float, nullable=False, info=not_personal()),
    Column("notice_until", Float, nullable=False, info=not_personal()),
    Column("exported_at", Float, nullable=True, info=not_personal()),
)

partner_objections = Table(
    "partner_objections",
    metadata,
    Column(
        "partner_id",
        Id,
        ForeignKey("partners.id", ondelete="CASCADE"),
        primary_key=True,
        info=not_personal(),
    ),
    Column(
        "user_id",
        Id,
        ForeignKey("users.id", ondelete="CASCADE"),
        primary_key=True,
        info=personal("objection", ["P8.2"], ACCOUNT),
    ),
    Column("objected_at", Float, nullable=False, info=personal("objection", ["P8.2"], ACCOUNT)),
    info=subject("user_id"),
)

# P8.2: append-only record of every share (no row is ever updated or deleted; triggers refuse).
disclosure_log = Table(
    "disclosure_log",
    metadata,
    Column("id", Id, primary_key=True, info=not_personal()),
    Column("partner_id", Id, nullable=False, info=not_personal()),
    Column("partner_name", String(256), nullable=False, info=not_personal()),
    Column("fields", Text, nullable=False, info=not_personal()),
    Column("row_count", Integer, nullable=False, info=not_personal()),
    Column("sha256", String(64), nullable=False, info=not_personal()),
    Column("exported_at", Float, nullable=False, info=not_personal()),
)

# P9: operators. Granted by `payam admin grant PHONE`.
admins = Table(
    "admins",
    metadata,
    Column(
        "user_id",
        Id,
        ForeignKey("users.id", ondelete="CASCADE"),
        primary_key=True,
        info=personal("role", ["P9.1"], ACCOUNT),
    ),
    Column("granted_at", Float, nullable=False, info=personal("role", ["P9.1"], ACCOUNT)),
    info=subject("user_id"),
)

# P11.1: every admin read of a user's data, shown to that user in their export.
admin_access = Table(
    "admin_access",
    metadata,
    Column("id", Id, primary_key=True, info=not_personal()),
    Column("admin_id", Id, nullable=True, info=personal("admin_audit", ["P9.1"], ADMIN_AUDIT)),
    Column(
        "subject_id",
        Id,
        ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
        info=personal("admin_audit", ["P11.1"], ADMIN_AUDIT),
    ),
    Column(
        "action", String(64), nullable=False, info=personal("admin_audit", ["P11.1"], ADMIN_AUDIT)
    ),
    Column("at", Float, nullable=False, info=personal("admin_audit", ["P11.1"], ADMIN_AUDIT)),
    info=subject("subject_id", note="whose data an admin read; the admin is named by id"),
)

# P11.3: what must remain after an erasure, with its reason: the number's keyed hash, so a
# deleted number cannot be re-registered to abuse the service at once (cool-down).
erasure_cooldowns = Table(
    "erasure_cooldowns",
    metadata,
    Column(
        "phone_hash",
        LargeBinary(32),
        primary_key=True,
        info=personal("phone_hash", ["P9.2"], COOLDOWN),
    ),
    Column("until", Float, nullable=False, info=not_personal()),
    info=subject(phone_hash="phone_hash", note="kept after erasure on purpose: the cool-down"),
)

# P7.2: prize draws: seeded, recorded, fair; only winners' contact data is used.
draws = Table(
    "draws",
    metadata,
    Column("id", Id, primary_key=True, info=not_personal()),
    Column("name", String(256), nullable=False, info=not_personal()),
    Column("seed", String(128), nullable=False, info=not_personal()),
    Column("eligible_count", Integer, nullable=False, info=not_personal()),
    Column("drawn_at", Float, nullable=False, info=not_personal()),
)

draw_winners = Table(
    "draw_winners",
    metadata,
    Column(
        "draw_id",
        Id,
        ForeignKey("draws.id", ondelete="CASCADE"),
        primary_key=True,
        info=not_personal(),
    ),
    Column(
        "user_id",
        Id,
        ForeignKey("users.id", ondelete="CASCADE"),
        primary_key=True,
        info=personal("prize", ["P7.2"], DRAW),
    ),
    Column("notified_at", Float, nullable=True, info=personal("prize", ["P7.2"], DRAW)),
    info=subject("user_id"),
)


# Full-text search lives beside the declared tables, made by migration 0002: on SQLite the FTS5
# table messages_fts (and its shadow tables messages_fts_*) with triggers (as 0009 left them),
# on PostgreSQL an expression GIN index. Schema comparisons leave these alone.
SEARCH_OBJECTS = frozenset({"messages_fts", "ix_messages_text_search"})


def is_declared_object(name: str | None) -> bool:
    """False for the search objects above, which the metadata does not describe."""
    return not (name and (name in SEARCH_OBJECTS or name.startswith("messages_fts_")))


# --- Web Push (P5.1 delivery, P8.1) -------------------------------------------------------------

# One Web Push subscription per signed-in device: where the server posts "something new" (the
# payload never carries content, P8.1). It goes with the device (sign-out, erasure) and when
# the push service answers 404 or 410 for it.
push_subscriptions = Table(
    "push_subscriptions",
    metadata,
    Column(
        "device_id",
        Id,
        ForeignKey("devices.id", ondelete="CASCADE"),
        primary_key=True,
        info=not_personal(),
    ),
    Column(
        "user_id",
        Id,
        ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
        info=personal("user_ref", ["P5.1"], PUSH),
    ),
    # The push service's URL for this browser: it identifies the browser to that service.
    Column("endpoint", Text, nullable=False, info=personal("push_endpoint", ["P5.1"], PUSH)),
    # The browser's P-256 public key and auth secret (RFC 8291), base64url.
    Column("p256dh", String(128), nullable=False, info=personal("push_key", ["P5.1"], PUSH)),
    Column("auth", String(64), nullable=False, info=personal("push_key", ["P5.1"], PUSH)),
    Column("created_at", Float, nullable=False, info=personal("device", ["P5.1"], PUSH)),
    info=subject("user_id"),
)
