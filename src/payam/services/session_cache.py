"""Sessions this process looked up a moment ago, so that a request does not cost a database
read to learn who sent it (P9.1 stays whole).

An entry is trusted for ``ttl`` seconds. Whatever can end a session here (signing out,
deleting a device, erasing or suspending an account) commits an ``UPDATE``/``DELETE`` of
``devices`` or ``users``, and the database calls ``clear`` as soon as such a transaction has
committed (``Database.after_commit_of``): the token stops working in this process at once.

Other server processes sharing the database hear of it on the event bus: the service that
ended the session publishes a session end after its commit (``EventBus.publish_session_end``),
and each process clears its cache when it arrives (``app.py``), and also whenever its bus
(re)subscribes, since messages may have been lost meanwhile. Invalidation by the bus, not a
shorter ``ttl``: a TTL short enough to be "never" is no cache at all (a database read per
request), while the bus makes the end felt everywhere within a round trip to Redis. ``ttl``
stays as the backstop for the one case the bus cannot cover, a publish that failed while the
rest of the cluster still listened: then another process honours the session for at most
``ttl`` more seconds (and says so in its log: "could not publish a session end").

A lookup that was under way while such a commit happened may have read the old row; it is not
kept (``generation`` says the cache was cleared meanwhile).
"""

from __future__ import annotations

from dataclasses import dataclass

from payam.domain.clock import Clock
from payam.domain.models import Caller

# Why a socket was closed with 4401 after its session ended (public, docs/realtime.md).
SESSION_ENDED = "session_ended"  # signed out, the device removed, or the account erased
ACCOUNT_SUSPENDED = "account_suspended"

# The commits that can end a session (cascades from ``users`` reach ``devices`` unseen).
SESSION_CHANGES = (("delete", "devices"), ("delete", "users"), ("update", "users"))


@dataclass(slots=True)
class KnownSession:
    caller: Caller
    # What the devices row said, kept up to date by our own touches (coarse on purpose).
    last_active_at: float
    last_ip: str | None
    looked_up_at: float


class SessionCache:
    def __init__(self, clock: Clock, *, ttl: float = 5.0, max_entries: int = 100_000) -> None:
        self.clock = clock
        self.ttl = ttl
        self.max_entries = max_entries
        self.generation = 0
        self._entries: dict[bytes, KnownSession] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token_digest: bytes) -> KnownSession | None:
        entry = self._entries.get(token_digest)
        if entry is None:
            return None
        age = self.clock.now() - entry.looked_up_at
        if not 0 <= age < self.ttl:  # expired, or the clock went back
            del self._entries[token_digest]
            return None
        return entry

    def put(self, token_digest: bytes, entry: KnownSession, *, generation: int) -> None:
        """Keep ``entry`` unless the cache was cleared since ``generation`` was read."""
        if generation != self.generation or self.ttl <= 0:
            return
        if len(self._entries) >= self.max_entries:
            del self._entries[next(iter(self._entries))]  # the oldest: dicts keep order
        self._entries[token_digest] = entry

    def clear(self) -> None:
        self._entries.clear()
        self.generation += 1
