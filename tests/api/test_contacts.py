"""Contact discovery (P2.1-P2.4): find friends by number, keep only keyed hashes, show them to
their uploader alone, and budget the new numbers an account may look up."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from payam.domain.keys import Keys
from payam.storage.tables import contacts, metadata
from tests.conftest import Account, Harness

SARA = "+989120000001"  # the uploader in most tests (Iran, so local numbers are Iranian)
BITA = "+989121110001"
CYRUS = "+989121110002"
DARA = "+989121110003"
STRANGER = "+989351234567"  # valid, never registered
UK_USER = "+447911123456"


def numbers(count: int, start: int = 0) -> list[str]:
    """``count`` valid Iranian mobile numbers nobody in these tests registers."""
    return [f"+98935{start + i:07d}" for i in range(count)]


async def upload(harness: Harness, headers: dict[str, str], phones: list[str]) -> Any:
    return await harness.http.put("/v1/contacts", json={"phones": phones}, headers=headers)


async def held(harness: Harness, headers: dict[str, str]) -> dict[str, Any]:
    response = await harness.http.get("/v1/contacts", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def hash_hex(harness: Harness, e164: str) -> str:
    return Keys(harness.settings.secret()).phone_hash(e164).hex()


async def rows_of(harness: Harness, user_id: int) -> int:
    async with harness.services.db.read() as conn:
        found = await conn.scalar(
            select(func.count()).select_from(contacts).where(contacts.c.user_id == user_id)
        )
    return int(found or 0)


# --- discovery -----------------------------------------------------------------------------


async def test_upload_answers_registered_numbers_as_sent_with_user_id_and_profile(
    harness: Harness,
) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    cyrus = await harness.sign_in(CYRUS, "Cyrus")

    response = await upload(harness, sara.headers, ["0912 111 0001", "+98 912 111 0002", STRANGER])

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["stored"] == 3
    assert body["new_numbers"] == 3
    assert body["invalid"] == []
    by_phone = {entry["phone"]: entry for entry in body["registered"]}
    assert set(by_phone) == {"0912 111 0001", "+98 912 111 0002"}  # not the stranger
    assert by_phone["0912 111 0001"]["user_id"] == bita.user_id
    assert by_phone["0912 111 0001"]["profile"] == {
        "id": bita.user_id,
        "name": "Bita",
        "status": None,
        "has_photo": False,
        "photo_url": None,
        "phone": BITA,  # she already holds it
    }
    assert by_phone["+98 912 111 0002"]["user_id"] == cyrus.user_id
    assert by_phone["+98 912 111 0002"]["profile"]["name"] == "Cyrus"


async def test_own_number_in_the_book_is_not_reported_as_a_friend(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    body = (await upload(harness, sara.headers, ["0912 000 0001"])).json()
    assert body["registered"] == []


async def test_local_numbers_are_read_in_the_uploaders_own_region(harness: Harness) -> None:
    await harness.sign_in(BITA, "Bita")
    sara = await harness.sign_in(SARA, "Sara")
    uk = await harness.sign_in(UK_USER, "Una")

    iranian = (await upload(harness, sara.headers, ["0912 111 0001"])).json()
    british = (await upload(harness, uk.headers, ["0912 111 0001"])).json()

    # The same written digits are Bita's number for an Iranian uploader only; for a British one
    # they are a (different) UK number, so nobody is found.
    assert [entry["phone"] for entry in iranian["registered"]] == ["0912 111 0001"]
    assert british["registered"] == []
    assert british["invalid"] == []
    assert (await held(harness, uk.headers))["hashes"] == [hash_hex(harness, "+449121110001")]
    # Written with the country code, the number means the same to everyone.
    british = (await upload(harness, uk.headers, ["+98 912 111 0001"])).json()
    assert [entry["phone"] for entry in british["registered"]] == ["+98 912 111 0001"]


async def test_invalid_entries_are_reported_and_the_rest_is_kept(harness: Harness) -> None:
    await harness.sign_in(BITA, "Bita")
    sara = await harness.sign_in(SARA, "Sara")
    bad = ["not a number", "12", " ", "+98912111000199999", "x" * 200]

    response = await upload(harness, sara.headers, [*bad, "0912 111 0001", STRANGER])

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["invalid"] == bad
    assert body["stored"] == 2
    assert [entry["phone"] for entry in body["registered"]] == ["0912 111 0001"]
    assert (await held(harness, sara.headers))["count"] == 2


async def test_one_number_written_several_ways_is_stored_once(harness: Harness) -> None:
    bita = await harness.sign_in(BITA, "Bita")
    sara = await harness.sign_in(SARA, "Sara")
    forms = ["0912 111 0001", "+989121110001", "+98 (912) 111-0001"]

    body = (
        await upload(harness, sara.headers, [*forms, "0912 111 0001", STRANGER, STRANGER])
    ).json()

    assert body["stored"] == 2
    assert body["new_numbers"] == 2
    # Each distinct spelling is answered once, so the client can map it to its entry.
    assert [entry["phone"] for entry in body["registered"]] == forms
    assert {entry["user_id"] for entry in body["registered"]} == {bita.user_id}
    assert (await held(harness, sara.headers))["count"] == 2
    assert await rows_of(harness, sara.user_id) == 2


async def test_more_than_contacts_max_is_refused_and_the_old_book_is_kept(
    harness: Harness,
) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    assert (await upload(harness, sara.headers, [STRANGER])).status_code == 200

    response = await upload(harness, sara.headers, numbers(5001))

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_many_contacts"
    assert (await held(harness, sara.headers))["hashes"] == [hash_hex(harness, STRANGER)]
    assert await rows_of(harness, sara.user_id) == 1


async def test_a_full_book_of_5000_numbers_is_accepted(make_harness: Any) -> None:
    # The default budget is one full book per 10 days; here a second half-new book fits too.
    harness: Harness = await make_harness(limits={"contact_discovery_per_user": "7500/864000"})
    bita = await harness.sign_in(BITA, "Bita")
    sara = await harness.sign_in(SARA, "Sara")
    book = [*numbers(4999), "0912 111 0001"]

    started = time.perf_counter()
    response = await upload(harness, sara.headers, book)
    first = time.perf_counter() - started
    started = time.perf_counter()
    again = await upload(harness, sara.headers, [*numbers(4999, start=2500), "0912 111 0001"])
    replaced = time.perf_counter() - started
    started = time.perf_counter()
    same = await upload(harness, sara.headers, [*numbers(4999, start=2500), "0912 111 0001"])
    resent = time.perf_counter() - started

    assert response.status_code == 200, response.text
    assert response.json()["stored"] == 5000
    assert [entry["user_id"] for entry in response.json()["registered"]] == [bita.user_id]
    assert again.status_code == 200, again.text
    assert again.json()["new_numbers"] == 2500
    assert same.json()["new_numbers"] == 0
    assert await rows_of(harness, sara.user_id) == 5000
    # A figure for the record (see docs), never a timed assertion.
    print(
        f"\n[{harness.services.db.reader.dialect.name}] PUT /v1/contacts with 5000 numbers: "
        f"all new {first:.3f}s, half new {replaced:.3f}s, none new {resent:.3f}s"
    )


async def test_a_second_upload_replaces_the_first(harness: Harness) -> None:
    bita = await harness.sign_in(BITA, "Bita")
    sara = await harness.sign_in(SARA, "Sara")
    first, second, third = numbers(3)
    await upload(harness, sara.headers, [first, second, "0912 111 0001"])

    body = (await upload(harness, sara.headers, [second, third])).json()

    assert body["stored"] == 2
    assert body["new_numbers"] == 1
    assert body["registered"] == []
    after = await held(harness, sara.headers)
    assert after["count"] == 2
    assert set(after["hashes"]) == {hash_hex(harness, second), hash_hex(harness, third)}
    assert after["registered"] == []
    # Bita left the book, so Sara no longer sees her profile (P3.2).
    profile = (await harness.http.get(f"/v1/users/{bita.user_id}", headers=sara.headers)).json()
    assert "name" not in profile


async def test_a_re_upload_changes_only_what_changed_and_matches_follow_the_new_book(
    harness: Harness,
) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    cyrus = await harness.sign_in(CYRUS, "Cyrus")
    dara = await harness.sign_in(DARA, "Dara")
    gone_stranger, kept_stranger, new_stranger = numbers(3)
    # Bita holds Sara's number; Sara at first holds Bita's and Cyrus's.
    await upload(harness, bita.headers, [SARA])
    first = await upload(harness, sara.headers, [BITA, CYRUS, gone_stranger, kept_stranger])
    assert {e["user_id"] for e in first.json()["registered"]} == {bita.user_id, cyrus.user_id}
    first_at = harness.clock.now()
    harness.clock.advance(3600)

    # Bita and a stranger out, Dara and another stranger in, Cyrus and a stranger kept.
    body = (await upload(harness, sara.headers, [CYRUS, DARA, kept_stranger, new_stranger])).json()

    assert body["stored"] == 4
    assert body["new_numbers"] == 2  # only Dara and the new stranger were never held
    assert {e["phone"]: e["user_id"] for e in body["registered"]} == {
        CYRUS: cyrus.user_id,
        DARA: dara.user_id,
    }
    book = await held(harness, sara.headers)
    wanted = {CYRUS, DARA, kept_stranger, new_stranger}
    assert set(book["hashes"]) == {hash_hex(harness, e164) for e164 in wanted}
    assert {e["user_id"] for e in book["registered"]} == {cyrus.user_id, dara.user_id}
    assert await rows_of(harness, sara.user_id) == 4
    # Rows kept stay as they were stored; only the new numbers were written now.
    async with harness.services.db.read() as conn:
        stored_at = {
            row.phone_hash.hex(): row.created_at
            for row in await conn.execute(
                select(contacts.c.phone_hash, contacts.c.created_at).where(
                    contacts.c.user_id == sara.user_id
                )
            )
        }
    assert stored_at == {
        hash_hex(harness, CYRUS): first_at,
        hash_hex(harness, kept_stranger): first_at,
        hash_hex(harness, DARA): first_at + 3600,
        hash_hex(harness, new_stranger): first_at + 3600,
    }

    async def sara_sees(user: Account) -> dict[str, Any]:
        response = await harness.http.get(f"/v1/users/{user.user_id}", headers=sara.headers)
        assert response.status_code == 200, response.text
        profile: dict[str, Any] = response.json()
        return profile

    # Sara sees the profiles (and numbers) of the numbers she holds now, and no longer Bita's.
    assert (await sara_sees(cyrus))["phone"] == CYRUS
    assert (await sara_sees(dara))["phone"] == DARA
    assert await sara_sees(bita) == {"id": bita.user_id}
    # Holding is one way: Bita still holds Sara's number and still sees her; Dara does not.
    view = (await harness.http.get(f"/v1/users/{sara.user_id}", headers=bita.headers)).json()
    assert view["phone"] == SARA
    view = (await harness.http.get(f"/v1/users/{sara.user_id}", headers=dara.headers)).json()
    assert view == {"id": sara.user_id}


async def test_an_empty_upload_empties_the_book(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    await upload(harness, sara.headers, numbers(3))
    body = (await upload(harness, sara.headers, [])).json()
    assert body["stored"] == 0
    assert (await held(harness, sara.headers))["count"] == 0


# --- what is kept (P2.2) -------------------------------------------------------------------


async def test_get_contacts_shows_the_owner_count_and_keyed_hashes(harness: Harness) -> None:
    bita = await harness.sign_in(BITA, "Bita")
    sara = await harness.sign_in(SARA, "Sara")
    await upload(harness, sara.headers, ["0912 111 0001", STRANGER])

    body = await held(harness, sara.headers)

    assert body["count"] == 2
    # HMAC-SHA256 keyed with the server secret over the E.164 form.
    assert sorted(body["hashes"]) == sorted([hash_hex(harness, BITA), hash_hex(harness, STRANGER)])
    assert [entry["user_id"] for entry in body["registered"]] == [bita.user_id]
    assert STRANGER not in str(body)


def _digit_forms(e164: str) -> list[str]:
    national = e164[3:]  # the Iranian numbers used here: +98 then 10 digits
    return [e164, e164[1:], national, "0" + national]


async def _all_table_text(harness: Harness) -> str:
    parts: list[str] = []
    async with harness.services.db.read() as conn:
        for table in metadata.sorted_tables:
            for row in await conn.execute(select(table)):
                for value in row:
                    if isinstance(value, bytes):
                        parts += [value.hex(), value.decode("latin-1")]
                    else:
                        parts.append(str(value))
    return "\n".join(parts)


def _sqlite_files_after_checkpoint(harness: Harness) -> bytes:
    path = Path(harness.services.db.url.split("///", 1)[1])
    with sqlite3.connect(path) as conn:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    assert busy == 0, "the checkpoint could not complete"
    return b"".join(p.read_bytes() for p in path.parent.rglob("*") if p.is_file())


async def test_only_keyed_hashes_are_stored_never_the_numbers(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    book = numbers(5, start=7000)
    spelled = ["0935 000 7000", "+98 935 000 7001", *book[2:]]
    await upload(harness, sara.headers, spelled)
    replaced_away = book[0]
    await upload(harness, sara.headers, book[1:])
    assert (await held(harness, sara.headers))["count"] == 4

    stored = await _all_table_text(harness)
    for e164 in book:
        for form in _digit_forms(e164):
            assert form not in stored, form
    for raw in spelled:
        assert raw not in stored
    if harness.services.db.is_sqlite:
        # The file itself, the write-ahead log and everything else in the data dir.
        on_disk = _sqlite_files_after_checkpoint(harness)
        for e164 in [*book, replaced_away]:
            for form in _digit_forms(e164):
                assert form.encode() not in on_disk, form


async def test_names_or_other_fields_are_refused_and_nothing_is_stored(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    for body in (
        {"phones": [STRANGER], "names": ["Reza"]},
        {"phones": [{"phone": STRANGER, "name": "Reza"}]},
        {"contacts": [STRANGER]},
        {"phones": STRANGER},
        {"phones": [9351234567]},
        {"phones": None},
    ):
        response = await harness.http.put("/v1/contacts", json=body, headers=sara.headers)
        assert response.status_code == 422, body
        assert response.json()["error"]["code"] == "invalid_request"
    response = await harness.http.put(
        "/v1/contacts",
        content=b"{not json",
        headers={**sara.headers, "content-type": "application/json"},
    )
    assert response.status_code == 422
    assert await rows_of(harness, sara.user_id) == 0


# --- nobody else (P2.3) --------------------------------------------------------------------


async def test_contacts_need_a_session(harness: Harness) -> None:
    for method in ("GET", "PUT", "DELETE"):
        response = await harness.http.request(method, "/v1/contacts", json={"phones": [STRANGER]})
        assert response.status_code == 401, method


async def test_another_user_can_neither_see_nor_change_someones_contacts(
    harness: Harness,
) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    await upload(harness, sara.headers, ["0912 111 0001", STRANGER])
    sara_book = await held(harness, sara.headers)

    # Bita's own view shows her (empty) book, whatever she asks for.
    for url in ("/v1/contacts", f"/v1/contacts?user_id={sara.user_id}"):
        response = await harness.http.get(url, headers=bita.headers)
        assert response.json()["count"] == 0
        assert response.json()["hashes"] == []
    # Her changes touch only her book.
    assert (await harness.http.delete("/v1/contacts", headers=bita.headers)).json() == {
        "deleted": 0
    }
    await upload(harness, bita.headers, [CYRUS])
    await harness.http.delete("/v1/contacts", headers=bita.headers)
    assert await held(harness, sara.headers) == sara_book
    # Sara holds Bita's number, which Bita cannot learn: Sara stays a bare id to her, and her
    # own upload of Sara's number shows nothing about Sara's book.
    view = (await harness.http.get(f"/v1/users/{sara.user_id}", headers=bita.headers)).json()
    assert view == {"id": sara.user_id}
    body = (await upload(harness, bita.headers, [SARA])).json()
    assert body["registered"][0]["profile"]["name"] == "Sara"
    assert BITA not in str(body)
    assert hash_hex(harness, BITA) not in str(await held(harness, bita.headers))


async def test_delete_wipes_the_book_and_the_visibility_it_gave(harness: Harness) -> None:
    bita = await harness.sign_in(BITA, "Bita")
    sara = await harness.sign_in(SARA, "Sara")
    await upload(harness, sara.headers, ["0912 111 0001", STRANGER])
    profile_url = f"/v1/users/{bita.user_id}"
    before = (await harness.http.get(profile_url, headers=sara.headers)).json()
    assert before["name"] == "Bita"

    response = await harness.http.delete("/v1/contacts", headers=sara.headers)

    assert response.status_code == 200
    assert response.json() == {"deleted": 2}
    book = await held(harness, sara.headers)
    assert (book["count"], book["hashes"], book["registered"]) == (0, [], [])
    assert await rows_of(harness, sara.user_id) == 0
    after = (await harness.http.get(profile_url, headers=sara.headers)).json()
    assert after == {"id": bita.user_id}
    assert (await harness.http.delete("/v1/contacts", headers=sara.headers)).json() == {
        "deleted": 0
    }


# --- the discovery budget (P2.4) -----------------------------------------------------------


async def test_discovery_budget_refuses_the_eleventh_new_number_and_keeps_the_old_book(
    make_harness: Any,
) -> None:
    harness: Harness = await make_harness(limits={"contact_discovery_per_user": "10/86400"})
    sara = await harness.sign_in(SARA, "Sara")
    ten = numbers(10)

    first = await upload(harness, sara.headers, ten)
    assert first.status_code == 200, first.text
    assert first.json()["new_numbers"] == 10

    refused = await upload(harness, sara.headers, [*ten, *numbers(1, start=10)])

    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "discovery_budget_exhausted"
    # One number's worth of refill at 10 a day: 8,640 seconds.
    assert int(refused.headers["Retry-After"]) == 8640
    book = await held(harness, sara.headers)
    assert sorted(book["hashes"]) == sorted(hash_hex(harness, n) for n in ten)


async def test_resending_numbers_already_held_is_free(make_harness: Any) -> None:
    harness: Harness = await make_harness(limits={"contact_discovery_per_user": "10/86400"})
    await harness.sign_in(BITA, "Bita")
    sara = await harness.sign_in(SARA, "Sara")
    ten = [*numbers(9), "0912 111 0001"]
    assert (await upload(harness, sara.headers, ten)).status_code == 200

    for _ in range(3):
        again = await upload(harness, sara.headers, list(reversed(ten)))
        assert again.status_code == 200, again.text
        assert again.json()["new_numbers"] == 0
        assert len(again.json()["registered"]) == 1
    # Dropping numbers is free too, but dropped ones are new again when they come back.
    assert (await upload(harness, sara.headers, ten[:5])).status_code == 200
    assert (await upload(harness, sara.headers, ten)).status_code == 429


async def test_the_budget_counts_numbers_not_spellings_and_never_invalid_entries(
    make_harness: Any,
) -> None:
    harness: Harness = await make_harness(limits={"contact_discovery_per_user": "10/86400"})
    sara = await harness.sign_in(SARA, "Sara")
    ten = numbers(10)
    spelled = ["0" + n[3:] for n in ten]

    response = await upload(harness, sara.headers, [*ten, *spelled, "nope", "123"])

    assert response.status_code == 200, response.text
    assert response.json()["new_numbers"] == 10


async def test_the_budget_refills_with_time(make_harness: Any) -> None:
    harness: Harness = await make_harness(limits={"contact_discovery_per_user": "10/86400"})
    sara = await harness.sign_in(SARA, "Sara")
    await upload(harness, sara.headers, numbers(10))
    assert (await upload(harness, sara.headers, numbers(12))).status_code == 429

    harness.clock.advance(2 * 8640 - 1)
    assert (await upload(harness, sara.headers, numbers(12))).status_code == 429
    harness.clock.advance(1)
    response = await upload(harness, sara.headers, numbers(12))
    assert response.status_code == 200, response.text
    assert response.json()["new_numbers"] == 2

    harness.clock.advance(86400)
    response = await upload(harness, sara.headers, numbers(10, start=100))
    assert response.status_code == 200, response.text
    assert (await held(harness, sara.headers))["count"] == 10


async def test_each_account_has_its_own_budget(make_harness: Any) -> None:
    harness: Harness = await make_harness(limits={"contact_discovery_per_user": "10/86400"})
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    assert (await upload(harness, sara.headers, numbers(10))).status_code == 200
    assert (await upload(harness, sara.headers, numbers(1, start=50))).status_code == 429
    assert (await upload(harness, bita.headers, numbers(10))).status_code == 200


async def test_an_upload_over_the_whole_budget_is_refused_with_a_full_refill_wait(
    make_harness: Any,
) -> None:
    harness: Harness = await make_harness(limits={"contact_discovery_per_user": "10/86400"})
    sara = await harness.sign_in(SARA, "Sara")
    response = await upload(harness, sara.headers, numbers(11))
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "discovery_budget_exhausted"
    assert int(response.headers["Retry-After"]) >= 86400
    assert await rows_of(harness, sara.user_id) == 0


async def test_concurrent_uploads_of_the_same_book_pay_for_it_once(make_harness: Any) -> None:
    harness: Harness = await make_harness(limits={"contact_discovery_per_user": "10/86400"})
    sara = await harness.sign_in(SARA, "Sara")
    ten = numbers(10)

    # A client that retries an upload it thinks was lost must not be charged twice.
    responses = await asyncio.gather(*(upload(harness, sara.headers, ten) for _ in range(3)))

    assert [r.status_code for r in responses] == [200, 200, 200], [r.text for r in responses]
    assert sorted(r.json()["new_numbers"] for r in responses) == [0, 0, 10]
    assert await rows_of(harness, sara.user_id) == 10


async def test_concurrent_uploads_without_limits_never_fail(make_harness: Any) -> None:
    harness: Harness = await make_harness(rate_limits="off")
    sara = await harness.sign_in(SARA, "Sara")
    books = [numbers(50), numbers(50, start=25), numbers(50)]
    responses = await asyncio.gather(*(upload(harness, sara.headers, b) for b in books))
    assert [r.status_code for r in responses] == [200, 200, 200], [r.text for r in responses]
    assert await rows_of(harness, sara.user_id) == 50


async def test_uploads_per_account_are_limited(make_harness: Any) -> None:
    harness: Harness = await make_harness(limits={"contact_upload_per_user": "2/3600"})
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    await upload(harness, sara.headers, numbers(2))
    await upload(harness, sara.headers, numbers(3))

    refused = await upload(harness, sara.headers, numbers(4))

    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "too_many_uploads"
    assert int(refused.headers["Retry-After"]) == 1800
    assert (await held(harness, sara.headers))["count"] == 3
    assert (await upload(harness, bita.headers, numbers(4))).status_code == 200
    harness.clock.advance(1800)
    assert (await upload(harness, sara.headers, numbers(4))).status_code == 200
