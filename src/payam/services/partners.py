"""Partners (P8.1, P8.2): nothing leaves the server for a third party until every affected
user was told and could refuse.

- ``propose`` records the partner, the purpose and the fields (data-map fields of ``users``,
  nothing else) and gives every account a notice naming all three, with the notice period;
- during the period a user can object; an objection removes them from the share, and once the
  share has been made an objection can no longer be taken (409), so nobody is told a share
  excluded them when it did not;
- ``export`` runs only after the period, only once, over the users who were told and did not
  object, with only the declared fields; it writes the file, then records a manifest (fields,
  row count, SHA-256 of the file) in ``disclosure_log``, which the database keeps append-only;
- each user can see what was shared about them, and their objections (``for_user``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from payam.config import Settings
from payam.domain.clock import Clock
from payam.domain.errors import Conflict, InvalidInput, NotFound
from payam.domain.events import iso
from payam.domain.models import Caller
from payam.services.notices import PARTNER, NoticeService, partner_details
from payam.storage import notices, partners
from payam.storage.data_map import personal_fields
from payam.storage.database import Database
from payam.storage.partners import Disclosure, Partner
from payam.storage.tables import users

DAY = 86400
NAME_MAX = 256
PURPOSE_MAX = 4000
# Shares are per person: only fields of the users table (one row per account) can be named.
SHAREABLE_TABLE = "users"


def shareable_fields() -> list[str]:
    """Personal fields of ``users`` that hold text or numbers (keyed hashes mean nothing
    outside this server and are never shared)."""
    return [
        f"{f.table}.{f.column}"
        for f in personal_fields()
        if f.table == SHAREABLE_TABLE and users.c[f.column].type.python_type is not bytes
    ]


def check_fields(fields: list[str]) -> list[str]:
    """The declared fields, deduplicated in order; unknown or non-shareable ones refused."""
    allowed = set(shareable_fields())
    cleaned = list(dict.fromkeys(f.strip() for f in fields if f.strip()))
    if not cleaned:
        raise InvalidInput("Name at least one field to share.", code="no_fields")
    unknown = [f for f in cleaned if f not in allowed]
    if unknown:
        raise InvalidInput(
            f"Not shareable data-map fields: {', '.join(unknown)}. "
            f"Shareable: {', '.join(sorted(allowed))}.",
            code="unknown_fields",
        )
    return cleaned


@dataclass(frozen=True, slots=True)
class Proposed:
    partner: Partner
    notified: int


@dataclass(frozen=True, slots=True)
class Exported:
    disclosure: Disclosure
    path: Path


class PartnerService:
    def __init__(
        self, db: Database, settings: Settings, clock: Clock, notices: NoticeService
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.notices = notices

    async def propose(
        self, name: str, purpose: str, fields: list[str], *, notice_days: int | None = None
    ) -> Proposed:
        name, purpose = name.strip(), purpose.strip()
        if not name or len(name) > NAME_MAX:
            raise InvalidInput(f"A partner name is 1 to {NAME_MAX} characters.", code="bad_name")
        if not purpose or len(purpose) > PURPOSE_MAX:
            raise InvalidInput(f"A purpose is 1 to {PURPOSE_MAX} characters.", code="bad_purpose")
        days = self.settings.partner_notice_days if notice_days is None else notice_days
        if days < 1:
            raise InvalidInput("The notice period is at least one day.", code="bad_notice_days")
        declared = check_fields(fields)
        now = self.clock.now()
        async with self.db.write() as conn:
            partner = await partners.create(
                conn,
                name=name,
                purpose=purpose,
                fields=declared,
                now=now,
                notice_until=now + days * DAY,
            )
            everyone = await notices.all_accounts(conn)
            updates = await self.notices.tell(
                conn, PARTNER, partner.id, everyone, partner_details(partner)
            )
        await self.notices.updates.publish(updates)
        return Proposed(partner, len(updates))

    async def object(self, caller: Caller, partner_id: int) -> dict[str, Any]:
        """Take the caller out of the share (idempotent). A proposal the caller was not told
        of is NotFound; after the export a new objection is a Conflict."""
        async with self.db.write() as conn:
            partner = await partners.get(conn, partner_id, lock=True)
            told = partner is not None and (
                await notices.find(conn, caller.user_id, PARTNER, partner.id) is not None
            )
            if partner is None or not told:
                raise NotFound("No such partner proposal.", code="partner_not_found")
            objected_at = await partners.objection(conn, partner.id, caller.user_id)
            if objected_at is None:
                if partner.exported_at is not None:
                    raise Conflict(
                        "This share has already been made; an objection can no longer "
                        "remove your data from it.",
                        code="partner_already_exported",
                    )
                objected_at = await partners.add_objection(
                    conn, partner.id, caller.user_id, now=self.clock.now()
                )
        return {**partner_details(partner), "objected_at": iso(objected_at)}

    def default_path(self, partner: Partner) -> Path:
        return self.settings.data_dir / "exports" / f"partner-{partner.id}.jsonl"

    async def export(self, partner_id: int, out: Path | None = None) -> Exported:
        """Write the share and log it. Refused before the notice period ends, and twice."""
        now = self.clock.now()
        async with self.db.write() as conn:
            partner = await partners.get(conn, partner_id, lock=True)
            if partner is None:
                raise NotFound(f"No partner proposal {partner_id}.", code="partner_not_found")
            if partner.exported_at is not None:
                raise Conflict(
                    f"Partner proposal {partner.id} was already exported at "
                    f"{iso(partner.exported_at)}.",
                    code="partner_already_exported",
                )
            if now < partner.notice_until:
                raise Conflict(
                    f"The notice period of proposal {partner.id} runs until "
                    f"{iso(partner.notice_until)}; users may still object. Nothing was exported.",
                    code="notice_period_running",
                )
            told = await notices.user_ids(conn, PARTNER, partner.id)
            objecting = await partners.objectors(conn, partner.id)
            included = [uid for uid in told if uid not in objecting]
            columns = [f.split(".", 1)[1] for f in partner.fields]
            rows = await partners.user_fields(conn, included, columns)
            path = out or self.default_path(partner)
            data = _encode(rows, partner.fields, csv_format=path.suffix.lower() == ".csv")
            _write_private(path, data)
            try:
                disclosure = await partners.log_disclosure(
                    conn,
                    partner=partner,
                    row_count=len(rows),
                    sha256=hashlib.sha256(data).hexdigest(),
                    now=now,
                )
                await partners.mark_exported(conn, partner.id, now=now)
            except BaseException:
                path.unlink(missing_ok=True)
                raise
        return Exported(disclosure, path)

    async def for_user(self, user_id: int) -> dict[str, Any]:
        """What was shared about the user, what they objected to, what is pending (P8.2,
        P11.1): ``GET /v1/me/disclosures`` and the full export show this."""
        async with self.db.read() as conn:
            told = [n.ref_id for n in await notices.for_user(conn, user_id) if n.kind == PARTNER]
            proposals = await partners.by_ids(conn, told)
            objected = await partners.objections_of_user(conn, user_id)
            shared = [
                d
                for d in await partners.disclosures(conn, proposals)
                if d.partner_id not in objected
            ]
        return {
            "disclosures": [
                {
                    "partner_id": d.partner_id,
                    "partner": d.partner_name,
                    "purpose": proposals[d.partner_id].purpose,
                    "fields": list(d.fields),
                    "row_count": d.row_count,
                    "sha256": d.sha256,
                    "exported_at": iso(d.exported_at),
                }
                for d in shared
            ],
            "objections": [
                {**partner_details(proposals[pid]), "objected_at": iso(at)}
                for pid, at in sorted(objected.items())
                if pid in proposals
            ],
            "pending": [
                partner_details(p)
                for pid, p in sorted(proposals.items())
                if p.exported_at is None and pid not in objected
            ],
        }


def _encode(rows: list[dict[str, Any]], fields: tuple[str, ...], *, csv_format: bool) -> bytes:
    """JSON lines (one object per person, keys the declared fields) or CSV with a header."""
    columns = [f.split(".", 1)[1] for f in fields]
    if csv_format:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(fields)
        for row in rows:
            writer.writerow(["" if row[c] is None else row[c] for c in columns])
        return buffer.getvalue().encode("utf-8")
    lines = [
        json.dumps(
            {f: row[c] for f, c in zip(fields, columns, strict=True)},
            ensure_ascii=False,
            separators=(",", ":"),
        )
        for row in rows
    ]
    return "".join(line + "\n" for line in lines).encode("utf-8")


def _write_private(path: Path, data: bytes) -> None:
    """Write the whole file (mode 0600) under a staging name, then move it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.partial")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        staging.replace(path)
    finally:
        staging.unlink(missing_ok=True)
