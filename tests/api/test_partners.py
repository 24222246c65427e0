"""Partners (P8.2): every user is told, objections keep their data out, and each user sees
what was shared about them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DBAPIError

from payam.storage.tables import disclosure_log
from tests.conftest import Account, Harness

SARA = "+989120000001"
BITA = "+989121110001"
DAY = 86400


async def propose(harness: Harness) -> int:
    done = await harness.services.partners.propose(
        "Acme Research", "usage study", ["users.name"], notice_days=7
    )
    return done.partner.id


async def disclosures(harness: Harness, who: Account) -> dict[str, Any]:
    response = await harness.http.get("/v1/me/disclosures", headers=who.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_every_user_is_told_the_partner_the_purpose_and_the_data(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    partner_id = await propose(harness)

    listed = (await harness.http.get("/v1/me/notices", headers=sara.headers)).json()["notices"]
    partner = next(n for n in listed if n["kind"] == "partner")["partner"]
    assert partner["partner_id"] == partner_id
    assert (partner["name"], partner["purpose"], partner["fields"]) == (
        "Acme Research",
        "usage study",
        ["users.name"],
    )
    updates = (await harness.http.get("/v1/updates?after=0", headers=sara.headers)).json()
    assert [u["notice"]["kind"] for u in updates["updates"] if u["kind"] == "notice"] == ["partner"]
    assert (await disclosures(harness, sara))["pending"][0]["partner_id"] == partner_id


async def test_objecting_is_idempotent_and_keeps_the_data_out(
    harness: Harness, tmp_path: Path
) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    partner_id = await propose(harness)

    first = await harness.http.post(f"/v1/me/partner-objections/{partner_id}", headers=sara.headers)
    harness.clock.advance(10)
    second = await harness.http.post(
        f"/v1/me/partner-objections/{partner_id}", headers=sara.headers
    )
    assert first.status_code == second.status_code == 200
    assert first.json()["objected_at"] == second.json()["objected_at"]

    harness.clock.advance(8 * DAY)
    out = tmp_path / "share.jsonl"
    done = await harness.services.partners.export(partner_id, out)

    assert out.read_text() == '{"users.name":"Bita"}\n'
    assert done.disclosure.row_count == 1
    sara_view = await disclosures(harness, sara)
    assert sara_view["disclosures"] == [] and sara_view["pending"] == []
    assert [o["partner_id"] for o in sara_view["objections"]] == [partner_id]
    bita_view = await disclosures(harness, bita)
    assert [(d["partner"], d["fields"], d["sha256"]) for d in bita_view["disclosures"]] == [
        ("Acme Research", ["users.name"], done.disclosure.sha256)
    ]

    late = await harness.http.post(f"/v1/me/partner-objections/{partner_id}", headers=bita.headers)
    assert late.status_code == 409
    assert late.json()["error"]["code"] == "partner_already_exported"
    # Sara's objection stands, and asking again still answers it.
    again = await harness.http.post(f"/v1/me/partner-objections/{partner_id}", headers=sara.headers)
    assert again.status_code == 200


async def test_unknown_proposals_are_404(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    response = await harness.http.post("/v1/me/partner-objections/424242", headers=sara.headers)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "partner_not_found"


async def test_users_who_joined_after_the_proposal_are_neither_asked_nor_shared(
    harness: Harness, tmp_path: Path
) -> None:
    partner_id = await propose(harness)
    bita = await harness.sign_in(BITA, "Bita")

    response = await harness.http.post(
        f"/v1/me/partner-objections/{partner_id}", headers=bita.headers
    )
    assert response.status_code == 404
    harness.clock.advance(8 * DAY)
    done = await harness.services.partners.export(partner_id, tmp_path / "s.jsonl")
    assert done.disclosure.row_count == 0


async def test_the_disclosure_log_refuses_updates_and_deletes(
    harness: Harness, tmp_path: Path
) -> None:
    await harness.sign_in(SARA, "Sara")
    partner_id = await propose(harness)
    harness.clock.advance(8 * DAY)
    await harness.services.partners.export(partner_id, tmp_path / "s.jsonl")

    with pytest.raises(DBAPIError, match="append-only"):
        async with harness.services.db.write() as conn:
            await conn.execute(update(disclosure_log).values(row_count=0))
    with pytest.raises(DBAPIError, match="append-only"):
        async with harness.services.db.write() as conn:
            await conn.execute(delete(disclosure_log))
    async with harness.services.db.read() as conn:
        rows = (await conn.execute(select(disclosure_log.c.row_count))).all()
    assert [r.row_count for r in rows] == [1]
