"""Policy versions (P12.1): the operator publishes, users are told of important changes, and
the server knows which version each user has seen (``notices`` of kind ``policy``).

- every version is kept whole, with the SHA-256 of its text, and never changed;
- publishing an important version gives every existing account a notice (and a ``notice``
  update on their sockets); an unimportant one is shown only to users who have never been
  shown any version (see ``NoticeService.list_notices``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from payam.domain.clock import Clock
from payam.domain.errors import Conflict, InvalidInput, NotFound
from payam.services.notices import POLICY, NoticeService, policy_details
from payam.storage import notices, policy
from payam.storage.database import Database
from payam.storage.policy import PolicyVersion

VERSION_MAX = 64


@dataclass(frozen=True, slots=True)
class Published:
    version: PolicyVersion
    notified: int


class PolicyService:
    def __init__(self, db: Database, clock: Clock, notices: NoticeService) -> None:
        self.db = db
        self.clock = clock
        self.notices = notices

    async def publish(self, text: str, *, important: bool, version: str | None = None) -> Published:
        if not text.strip():
            raise InvalidInput("The policy text is empty.", code="policy_empty")
        if version is not None:
            version = version.strip()
            if not version or len(version) > VERSION_MAX:
                raise InvalidInput(
                    f"A version is 1 to {VERSION_MAX} characters.", code="invalid_version"
                )
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        async with self.db.write() as conn:
            if version is None:
                version = str(await policy.count(conn) + 1)
            if await policy.by_version(conn, version) is not None:
                raise Conflict(f"Version {version} is already published.", code="version_exists")
            published = await policy.insert_version(
                conn,
                version=version,
                important=important,
                text=text,
                sha256=digest,
                now=self.clock.now(),
            )
            updates = []
            if important:
                everyone = await notices.all_accounts(conn)
                updates = await self.notices.tell(
                    conn, POLICY, published.id, everyone, policy_details(published)
                )
        await self.notices.updates.publish(updates)
        return Published(published, len(updates))

    async def current(self) -> PolicyVersion:
        async with self.db.read() as conn:
            found = await policy.latest(conn)
        if found is None:
            raise NotFound("No policy has been published yet.", code="policy_not_found")
        return found
