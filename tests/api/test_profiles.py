"""Profiles (P3.1, P11.2) and who sees them (P1.5, P3.2), through every path that returns one:
/v1/me, /v1/users/{id}, /v1/users/{id}/photo, and the profiles in PUT and GET /v1/contacts."""

from __future__ import annotations

from typing import Any

from tests.conftest import Account, Harness

SARA = "+989120000001"
BITA = "+989121110001"
CYRUS = "+989121110002"


async def me(harness: Harness, account: Account) -> dict[str, Any]:
    response = await harness.http.get("/v1/me", headers=account.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def patch(harness: Harness, account: Account, body: Any) -> Any:
    return await harness.http.patch("/v1/me", json=body, headers=account.headers)


def error_code(response: Any) -> str:
    code: str = response.json()["error"]["code"]
    return code


# --- GET /v1/me ----------------------------------------------------------------------------


async def test_me_shows_the_whole_own_profile_with_the_number(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    body = await me(harness, sara)
    assert body["id"] == sara.user_id
    assert body["phone"] == SARA
    assert body["name"] == "Sara"
    assert body["status"] is None
    assert body["has_photo"] is False
    assert body["photo_url"] is None
    assert body["created_at"].endswith("Z")


async def test_me_needs_a_session(harness: Harness) -> None:
    response = await harness.http.get("/v1/me")
    assert response.status_code == 401
    assert error_code(response) == "missing_token"
    response = await harness.http.patch("/v1/me", json={"name": "X"})
    assert response.status_code == 401


# --- PATCH /v1/me: name --------------------------------------------------------------------


async def test_name_change_is_kept_and_leaves_status_alone(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    assert (await patch(harness, sara, {"status": "busy"})).status_code == 200
    harness.clock.advance(10)
    before = await me(harness, sara)
    response = await patch(harness, sara, {"name": "Sara K."})
    assert response.status_code == 200
    assert response.json()["name"] == "Sara K."
    after = await me(harness, sara)
    assert after["name"] == "Sara K."
    assert after["status"] == "busy"
    assert after["updated_at"] > before["updated_at"]


async def test_empty_whitespace_invisible_or_null_name_is_refused_and_name_kept(
    harness: Harness,
) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    for bad in ["", "   ", "\t\n", "\u200c\u200d", "\x01\x07", "\u202e\u2066", None]:
        response = await patch(harness, sara, {"name": bad})
        assert response.status_code == 422, (bad, response.text)
        assert error_code(response) == "invalid_name"
    assert (await me(harness, sara))["name"] == "Sara"


async def test_name_length_limit_has_one_stable_code_at_any_size(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    limit = harness.settings.name_max_length
    assert (await patch(harness, sara, {"name": "n" * limit})).status_code == 200
    for length in (limit + 1, 5000):
        response = await patch(harness, sara, {"name": "n" * length})
        assert response.status_code == 422
        assert error_code(response) == "name_too_long"
    assert (await me(harness, sara))["name"] == "n" * limit


async def test_name_limit_is_configurable_and_counts_characters_not_bytes(
    make_harness: Any,
) -> None:
    harness: Harness = await make_harness(name_max_length=5)
    sara = await harness.sign_in(SARA, "Sara")
    assert (await patch(harness, sara, {"name": "سارای"})).status_code == 200  # 5 letters
    response = await patch(harness, sara, {"name": "سارا ک"})
    assert error_code(response) == "name_too_long"
    # Spaces at the ends and controls do not count.
    assert (await patch(harness, sara, {"name": "  Bita\x01 "})).json()["name"] == "Bita"


async def test_control_and_bidi_characters_are_stripped_and_line_breaks_become_spaces(
    harness: Harness,
) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    response = await patch(harness, sara, {"name": "\x01 Sa\x1bra\u202e\ufeff K.\n"})
    assert response.status_code == 200
    assert response.json()["name"] == "Sara K."
    response = await patch(harness, sara, {"status": "line one\nline\ttwo\x7f"})
    assert response.json()["status"] == "line one line two"
    assert (await me(harness, sara))["name"] == "Sara K."


async def test_persian_zwnj_and_emoji_joiners_are_kept(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    name = "می\u200cخواهم 👩\u200d💻"  # noqa: RUF001 (Persian letters are the point)
    response = await patch(harness, sara, {"name": name})
    assert response.status_code == 200
    assert response.json()["name"] == name


async def test_names_are_stored_in_nfc(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    response = await patch(harness, sara, {"name": "Se\u0301verine"})  # e + combining accent
    assert response.json()["name"] == "S\u00e9verine"
    response = await patch(harness, sara, {"name": "Se\u200b\u0301verine"})  # a hidden space
    assert response.json()["name"] == "S\u00e9verine"


async def test_nul_and_lone_surrogates_never_reach_storage_nor_cause_a_500(
    harness: Harness,
) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    for raw in (b'{"name": "Sa\\ud800ra"}', b'{"name": "Sa\\u0000ra"}', b'{"status": "\\udfff"}'):
        response = await harness.http.patch(
            "/v1/me", content=raw, headers={**sara.headers, "content-type": "application/json"}
        )
        assert 400 <= response.status_code < 500, (raw, response.text)
        stored = await me(harness, sara)
        assert stored["name"] == "Sara"
        assert stored["status"] is None


# --- PATCH /v1/me: status ------------------------------------------------------------------


async def test_status_is_set_then_cleared_with_null_or_blank(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    response = await patch(harness, sara, {"status": "  on holiday  "})
    assert response.status_code == 200
    assert response.json()["status"] == "on holiday"
    assert (await me(harness, sara))["status"] == "on holiday"
    response = await patch(harness, sara, {"status": None})
    assert response.status_code == 200
    assert response.json()["status"] is None
    await patch(harness, sara, {"status": "back"})
    assert (await patch(harness, sara, {"status": "   "})).json()["status"] is None
    assert (await me(harness, sara))["name"] == "Sara"


async def test_status_length_limit_has_one_stable_code(make_harness: Any) -> None:
    harness: Harness = await make_harness(status_max_length=10)
    sara = await harness.sign_in(SARA, "Sara")
    assert (await patch(harness, sara, {"status": "0123456789"})).status_code == 200
    for length in (11, 10_000):
        response = await patch(harness, sara, {"status": "x" * length})
        assert response.status_code == 422
        assert error_code(response) == "status_too_long"
    assert (await me(harness, sara))["status"] == "0123456789"


async def test_default_status_limit_is_enforced(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    limit = harness.settings.status_max_length
    assert (await patch(harness, sara, {"status": "s" * limit})).status_code == 200
    assert error_code(await patch(harness, sara, {"status": "s" * (limit + 1)})) == (
        "status_too_long"
    )


async def test_a_refused_field_changes_nothing_else_in_the_same_request(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    response = await patch(harness, sara, {"name": "New", "status": "s" * 10_000})
    assert response.status_code == 422
    assert (await me(harness, sara))["name"] == "Sara"


# --- PATCH /v1/me: malformed bodies --------------------------------------------------------


async def test_unknown_fields_are_refused(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    for body in ({"nickname": "S"}, {"name": "S", "phone": "+989999999999"}, {"photo_key": "x"}):
        response = await patch(harness, sara, body)
        assert response.status_code == 422, body
        assert error_code(response) == "invalid_request"
    assert (await me(harness, sara))["phone"] == SARA


async def test_wrong_types_and_non_json_bodies_are_422_not_500(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    for body in ({"name": 123}, {"status": ["a"]}, ["name"], "Sara", None):
        response = await patch(harness, sara, body)
        assert response.status_code == 422, (body, response.text)
        assert error_code(response) == "invalid_request"
    response = await harness.http.patch(
        "/v1/me", content=b"{not json", headers={**sara.headers, "content-type": "application/json"}
    )
    assert response.status_code == 422
    assert (await me(harness, sara))["name"] == "Sara"


async def test_empty_patch_changes_nothing(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    await patch(harness, sara, {"status": "here"})
    response = await patch(harness, sara, {})
    assert response.status_code == 200
    assert (response.json()["name"], response.json()["status"]) == ("Sara", "here")


# --- visibility (P1.5, P3.2) ---------------------------------------------------------------


async def upload_contacts(harness: Harness, account: Account, phones: list[str]) -> Any:
    response = await harness.http.put(
        "/v1/contacts", json={"phones": phones}, headers=account.headers
    )
    assert response.status_code == 200, response.text
    return response.json()


async def view(harness: Harness, viewer: Account, user_id: int) -> Any:
    return await harness.http.get(f"/v1/users/{user_id}", headers=viewer.headers)


async def test_a_stranger_sees_the_id_alone_and_never_the_number(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    await patch(harness, sara, {"status": "secret status"})
    response = await view(harness, bita, sara.user_id)
    assert response.status_code == 200
    assert response.json() == {"id": sara.user_id}
    for private in (SARA, "Sara", "secret status"):
        assert private not in response.text


async def test_a_holder_of_the_number_sees_name_status_photo_and_the_number(
    harness: Harness,
) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    await patch(harness, sara, {"status": "hello"})
    await upload_contacts(harness, bita, [SARA])
    response = await view(harness, bita, sara.user_id)
    assert response.json() == {
        "id": sara.user_id,
        "name": "Sara",
        "status": "hello",
        "has_photo": False,
        "photo_url": None,
        "phone": SARA,
    }


async def test_holding_a_number_written_locally_counts(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    await upload_contacts(harness, bita, ["0912 000 0001"])
    assert (await view(harness, bita, sara.user_id)).json()["name"] == "Sara"


async def test_visibility_is_not_mutual(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    await upload_contacts(harness, bita, [SARA])
    assert (await view(harness, bita, sara.user_id)).json()["name"] == "Sara"
    assert (await view(harness, sara, bita.user_id)).json() == {"id": bita.user_id}


async def test_the_holder_sees_profile_changes(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    await upload_contacts(harness, bita, [SARA])
    await patch(harness, sara, {"name": "Sara K.", "status": "new"})
    body = (await view(harness, bita, sara.user_id)).json()
    assert (body["name"], body["status"]) == ("Sara K.", "new")


async def test_wiping_or_replacing_contacts_takes_the_visibility_away(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    cyrus = await harness.sign_in(CYRUS, "Cyrus")
    await upload_contacts(harness, bita, [SARA, CYRUS])
    assert (await view(harness, bita, sara.user_id)).json()["name"] == "Sara"
    response = await harness.http.delete("/v1/contacts", headers=bita.headers)
    assert response.status_code == 200
    assert (await view(harness, bita, sara.user_id)).json() == {"id": sara.user_id}
    await upload_contacts(harness, bita, [SARA, CYRUS])
    await upload_contacts(harness, bita, [CYRUS])
    assert (await view(harness, bita, sara.user_id)).json() == {"id": sara.user_id}
    assert (await view(harness, bita, cyrus.user_id)).json()["name"] == "Cyrus"


async def test_a_third_users_contacts_give_nothing_to_anyone_else(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    cyrus = await harness.sign_in(CYRUS, "Cyrus")
    await upload_contacts(harness, cyrus, [SARA])
    assert (await view(harness, bita, sara.user_id)).json() == {"id": sara.user_id}


async def test_the_user_sees_their_own_profile_with_the_number(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    body = (await view(harness, sara, sara.user_id)).json()
    assert body["phone"] == SARA
    assert body["name"] == "Sara"


async def test_unknown_user_is_404(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    for user_id in (sara.user_id + 1000, 0, -1):
        response = await view(harness, sara, user_id)
        assert response.status_code == 404
    assert error_code(await view(harness, sara, sara.user_id + 1000)) == "user_not_found"
    response = await harness.http.get("/v1/users/sara", headers=sara.headers)
    assert response.status_code == 422


async def test_viewing_a_profile_needs_a_session(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    assert (await harness.http.get(f"/v1/users/{sara.user_id}")).status_code == 401


async def test_contacts_upload_answers_profiles_under_the_same_rule(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    await patch(harness, sara, {"status": "hi"})
    result = await upload_contacts(harness, bita, [SARA])
    [found] = result["registered"]
    assert found["user_id"] == sara.user_id
    assert found["profile"] == (await view(harness, bita, sara.user_id)).json()
    assert found["profile"]["phone"] == SARA
    assert found["profile"]["name"] == "Sara"


async def test_contacts_listing_shows_held_profiles_and_reflects_changes(
    harness: Harness,
) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    await upload_contacts(harness, bita, [SARA])
    await patch(harness, sara, {"name": "Sara K."})
    held = (await harness.http.get("/v1/contacts", headers=bita.headers)).json()
    [entry] = held["registered"]
    assert entry["profile"] == (await view(harness, bita, sara.user_id)).json()
    assert entry["profile"]["name"] == "Sara K."
    # Sara, who holds nobody, learns nothing of Bita from her own listing.
    own = (await harness.http.get("/v1/contacts", headers=sara.headers)).json()
    assert own["registered"] == []
    assert BITA not in str(own)
