"""Prize draws (P7.2): fair, reproducible, and using only the winners' contact data.

- the eligible set is every active account, or the members of one chat or channel, as a
  sorted list of ids;
- the winners are ``random.Random(seed).sample(eligible, n)``; the seed comes from
  ``secrets`` unless given, and is recorded with the size of the eligible set, so anyone can
  re-run the draw and get the same winners;
- winners are recorded and told (a ``prize`` notice); only their numbers are read, after the
  draw, and nobody else's.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass

from payam.domain.clock import Clock
from payam.domain.errors import InvalidInput, NotFound
from payam.services.notices import PRIZE, NoticeService, prize_details
from payam.storage import draws
from payam.storage.database import Database
from payam.storage.draws import Draw

NAME_MAX = 256
SEED_MAX = 128


def pick_winners(eligible: list[int], winners: int, seed: str) -> list[int]:
    """The fair draw: the same seed and eligible set always give the same winners."""
    return random.Random(seed).sample(sorted(eligible), winners)  # noqa: S311 (reproducible on purpose; the seed is secret until drawn)


@dataclass(frozen=True, slots=True)
class DrawResult:
    draw: Draw
    winners: list[int]
    # Winner id -> number: the only contact data the draw reads (P7.2).
    phones: dict[int, str]


class PromotionService:
    def __init__(self, db: Database, clock: Clock, notices: NoticeService) -> None:
        self.db = db
        self.clock = clock
        self.notices = notices

    async def draw(
        self, name: str, winners: int, *, chat_id: int | None = None, seed: str | None = None
    ) -> DrawResult:
        name = name.strip()
        if not name or len(name) > NAME_MAX:
            raise InvalidInput(f"A draw name is 1 to {NAME_MAX} characters.", code="bad_name")
        if winners < 1:
            raise InvalidInput("A draw has at least one winner.", code="bad_winners")
        if seed is not None and not (0 < len(seed) <= SEED_MAX):
            raise InvalidInput(f"A seed is 1 to {SEED_MAX} characters.", code="bad_seed")
        seed = seed if seed is not None else secrets.token_hex(16)
        async with self.db.write() as conn:
            if chat_id is None:
                eligible = await draws.all_user_ids(conn)
            else:
                if not await draws.chat_exists(conn, chat_id):
                    raise NotFound(f"No chat {chat_id}.", code="chat_not_found")
                eligible = await draws.member_ids(conn, chat_id)
            if winners > len(eligible):
                raise InvalidInput(
                    f"{winners} winners asked for but only {len(eligible)} eligible.",
                    code="too_few_eligible",
                )
            chosen = pick_winners(eligible, winners, seed)
            draw = await draws.create(
                conn,
                name=name,
                seed=seed,
                eligible_count=len(eligible),
                winners=chosen,
                now=self.clock.now(),
            )
            updates = await self.notices.tell(conn, PRIZE, draw.id, chosen, prize_details(draw))
            phones = await draws.winner_phones(conn, chosen)
        await self.notices.updates.publish(updates)
        return DrawResult(draw, chosen, phones)
