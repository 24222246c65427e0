"""Every rate limit of payam, named, with its default, in one place (P1.2, P2.4, P9.2).

A limit is a token bucket: ``capacity`` tokens, refilled evenly so that a full bucket takes
``period`` seconds to come back. Spending more tokens than the bucket holds is refused with
the time after which it would succeed. Operators override a limit by name with
``PAYAM_LIMITS='{"auth_code_per_ip": "20/3600"}'``; ``PAYAM_RATE_LIMITS=off`` disables all.

Sending a sign-in code to one number is not a bucket but a schedule of growing waits
(``DEFAULT_CODE_RESEND_WAITS``): the first code goes at once, each further one only after a
longer pause, so an attacker cannot pump SMS to a number and a user who mistyped is not stuck.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rate:
    capacity: float
    period: float  # seconds for an empty bucket to refill completely

    @classmethod
    def parse(cls, text: str) -> Rate:
        """``"10/3600"`` means 10 tokens per hour."""
        try:
            capacity, period = text.split("/")
            rate = cls(float(capacity), float(period))
        except ValueError as exc:
            raise ValueError(f"a limit is written CAPACITY/SECONDS, not {text!r}") from exc
        if rate.capacity <= 0 or rate.period <= 0:
            raise ValueError(f"a limit needs a positive capacity and period, not {text!r}")
        return rate

    @property
    def per_second(self) -> float:
        return self.capacity / self.period


class Limit(enum.Enum):
    """Every named limit. The member name is the configuration key; ``default`` its rate."""

    # P1.2: no SMS pumping from one address, however many numbers it tries.
    auth_code_per_ip = "auth_code_per_ip"
    # P1.2: no brute force of codes across many numbers from one address.
    auth_verify_per_ip = "auth_verify_per_ip"
    # P2.4: new (never held before) numbers one account may look up; re-sends are free.
    contact_discovery_per_user = "contact_discovery_per_user"
    # P9.2: whole address-book uploads per account.
    contact_upload_per_user = "contact_upload_per_user"
    # P2.1 / P9.2: invitations sent by one account, and received by one number.
    invite_per_user = "invite_per_user"
    invite_per_phone = "invite_per_phone"
    # P9.2: photo uploads (profile and group photos share one budget).
    photo_upload_per_user = "photo_upload_per_user"
    # P9.2: media uploads (files for messages and channel posts) per account.
    media_upload_per_user = "media_upload_per_user"
    # P9.2: channels created per account: handles are public and unique, so nobody hoards them.
    channel_create_per_user = "channel_create_per_user"
    # P3.2 / P9.2: strangers (neither holds the other's number) one account pulls into chats a
    # day: new direct chats with them, and adding or inviting them to groups, one token each.
    stranger_chats_per_user = "stranger_chats_per_user"
    # P9.2: calls one account starts (every invite rings every device of the callee), and
    # calls to one person from one caller (no ringing someone's phone all night).
    call_invite_per_user = "call_invite_per_user"
    call_invite_per_pair = "call_invite_per_pair"
    # P9.2: TURN credentials minted per account (each lets its holder relay media).
    turn_credentials_per_user = "turn_credentials_per_user"

    @property
    def default(self) -> Rate:
        return DEFAULT_RATES[self]


DEFAULT_RATES: dict[Limit, Rate] = {
    Limit.auth_code_per_ip: Rate(10, 3600),
    Limit.auth_verify_per_ip: Rate(30, 3600),
    Limit.contact_discovery_per_user: Rate(5000, 10 * 86400),
    Limit.contact_upload_per_user: Rate(20, 3600),
    Limit.invite_per_user: Rate(20, 86400),
    Limit.invite_per_phone: Rate(1, 86400),
    Limit.photo_upload_per_user: Rate(10, 3600),
    # An album is up to media_per_message files: room for several an hour, not for a flood.
    Limit.media_upload_per_user: Rate(200, 3600),
    Limit.channel_create_per_user: Rate(10, 86400),
    Limit.stranger_chats_per_user: Rate(50, 86400),
    Limit.call_invite_per_user: Rate(60, 3600),
    Limit.call_invite_per_pair: Rate(10, 600),
    Limit.turn_credentials_per_user: Rate(120, 3600),
}

# P5.3: a chat's disappearing-messages timer (``message_ttl``) and a user's default for new
# chats, in seconds: at least five seconds, at most a year. None (null) is off.
MESSAGE_TTL_MIN_SECONDS = 5
MESSAGE_TTL_MAX_SECONDS = 365 * 86400  # 31,536,000

# Seconds to wait before the 2nd, 3rd, ... code to the same number; the last repeats.
DEFAULT_CODE_RESEND_WAITS: tuple[int, ...] = (30, 60, 300, 900, 3600)
# A number that has not asked for a code this long starts the schedule again.
CODE_SEND_WINDOW_RESET = 86400


@dataclass(frozen=True, slots=True)
class BucketState:
    tokens: float
    updated_at: float


def take(
    state: BucketState | None, rate: Rate, cost: float, now: float
) -> tuple[BucketState, float]:
    """Try to spend ``cost`` tokens. Returns the new state and 0.0 on success, or the unchanged
    (refilled) state and the seconds to wait on refusal. A cost above capacity can never pass:
    its wait is what a full bucket would need, which tells the client the request is too big.
    """
    if state is None:
        tokens = rate.capacity
    else:
        elapsed = max(0.0, now - state.updated_at)
        tokens = min(rate.capacity, state.tokens + elapsed * rate.per_second)
    if cost <= tokens:
        return BucketState(tokens - cost, now), 0.0
    wait = (min(cost, rate.capacity) - tokens) / rate.per_second
    if cost > rate.capacity:
        wait = max(wait, rate.period)
    return BucketState(tokens, now), wait


def give_back(state: BucketState, rate: Rate, cost: float, now: float) -> BucketState:
    """Return ``cost`` tokens spent for something that then did not happen (never above
    capacity), e.g. a code the SMS gateway refused."""
    elapsed = max(0.0, now - state.updated_at)
    tokens = min(rate.capacity, state.tokens + elapsed * rate.per_second + cost)
    return BucketState(tokens, now)


def code_resend_wait(sends_in_window: int, waits: tuple[int, ...]) -> int:
    """Seconds that must pass after the ``sends_in_window``-th code before the next one."""
    if sends_in_window <= 0 or not waits:
        return 0
    return waits[min(sends_in_window, len(waits)) - 1]


# A WebSocket frame is one small JSON command (a send is at most 4,096 characters of text): a
# longer frame closes the socket with 1009 before it is parsed (docs/realtime.md).
WS_FRAME_MAX_CHARS = 64 * 1024
# How deep a frame may nest arrays and objects; deeper is answered ``invalid_frame`` unparsed.
WS_FRAME_MAX_DEPTH = 32

# --- Input limits ------------------------------------------------------------------------------
# What one request may carry. The services enforce them (each with its own stable error code);
# the OpenAPI document states them (api/limits.py reads them from here, and the operator's own
# value for the ones that are settings), so the schema is never looser than the server.

# Settings with these defaults (config.py): an operator may change them.
MESSAGE_MAX_LENGTH = 4096
NAME_MAX_LENGTH = 64
STATUS_MAX_LENGTH = 140
CHAT_TITLE_MAX_LENGTH = 128
CONTACTS_MAX = 5000
MEDIA_PER_MESSAGE = 10
# Fixed.
CLIENT_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"
CHANNEL_DESCRIPTION_MAX_LENGTH = 255
CHANNEL_QUERY_MAX_LENGTH = 64
SEARCH_QUERY_MAX_LENGTH = 256
REPORT_REASON_MAX_LENGTH = 500
AUDIT_PAGE_MAX = 200  # entries of the operators' audit trail in one answer
