"""P9, P11.1: the admin API is invisible to non-admins, suspension closes an account's doors,
and every admin read of a user's data is shown to that user in their export."""

from __future__ import annotations

import asyncio

from typer.testing import CliRunner

from payam.cli.main import app as cli
from tests.api.test_export import export_of, group, send
from tests.conftest import Account, Harness


async def make_admin(harness: Harness, phone: str = "+989120000100") -> Account:
    admin = await harness.sign_in(phone, "Operator")
    await harness.services.admin.grant(phone)
    return admin


async def test_admin_routes_answer_404_to_everyone_else_exactly_like_an_unknown_route(
    harness: Harness,
) -> None:
    sara = await harness.sign_in("+989120000001", "Sara")
    unknown = await harness.http.get("/v1/nothing-here", headers=sara.headers)
    for method, path in [
        ("GET", f"/v1/admin/users?user_id={sara.user_id}"),
        ("POST", f"/v1/admin/users/{sara.user_id}/suspend"),
        ("DELETE", f"/v1/admin/users/{sara.user_id}/suspend"),
        ("GET", "/v1/admin/reports"),
        ("GET", "/v1/admin/audit"),
    ]:
        response = await harness.http.request(method, path, headers=sara.headers)
        assert response.status_code == 404, (path, response.text)
        assert response.json() == unknown.json()
    assert (await harness.http.get("/v1/admin/reports")).status_code == 401


async def test_a_lookup_is_recorded_and_shown_in_the_users_export(harness: Harness) -> None:
    admin = await make_admin(harness)
    sara = await harness.sign_in("+989120000001", "Sara")
    response = await harness.http.get(
        "/v1/admin/users", params={"phone": sara.phone}, headers=admin.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["id"] == sara.user_id
    response = await harness.http.get(
        f"/v1/admin/users?user_id={sara.user_id}", headers=admin.headers
    )
    assert response.json()["name"] == "Sara"
    data, _ = await export_of(harness, sara)
    seen = [(r["admin_id"], r["action"]) for r in data["admin_access"]]
    assert seen == [(admin.user_id, "lookup"), (admin.user_id, "lookup")]
    # The admin's own export does not claim they were looked at.
    admin_data, _ = await export_of(harness, admin)
    assert admin_data["admin_access"] == []


async def test_a_suspended_user_gets_403_and_cannot_sign_in_until_lifted(
    harness: Harness,
) -> None:
    admin = await make_admin(harness)
    sara = await harness.sign_in("+989120000001", "Sara")
    response = await harness.http.post(
        f"/v1/admin/users/{sara.user_id}/suspend", headers=admin.headers
    )
    assert response.status_code == 204, response.text
    response = await harness.http.get("/v1/me", headers=sara.headers)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "account_suspended"
    await harness.http.post("/v1/auth/code", json={"phone": sara.phone})
    response = await harness.http.post(
        "/v1/auth/session",
        json={
            "phone": sara.phone,
            "code": harness.last_code(sara.phone),
            "device": {"model": "m", "os": "o", "app_version": "1"},
        },
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "account_suspended"
    response = await harness.http.delete(
        f"/v1/admin/users/{sara.user_id}/suspend", headers=admin.headers
    )
    assert response.status_code == 204
    assert (await harness.http.get("/v1/me", headers=sara.headers)).status_code == 200
    data, _ = await export_of(harness, sara)
    assert [r["action"] for r in data["admin_access"]] == ["suspend", "unsuspend"]


async def test_reports_are_listed_resolved_and_the_read_is_recorded(harness: Harness) -> None:
    admin = await make_admin(harness)
    sara = await harness.sign_in("+989120000001", "Sara")
    omid = await harness.sign_in("+989120000002", "Omid")
    chat_id = await group(harness, sara, omid)
    message = await send(harness, sara, chat_id, "rude words")
    response = await harness.http.post(
        f"/v1/chats/{chat_id}/messages/{message['id']}/report",
        json={"reason": "rude"},
        headers=omid.headers,
    )
    assert response.status_code == 201, response.text
    response = await harness.http.get("/v1/admin/reports", headers=admin.headers)
    assert response.status_code == 200, response.text
    [report] = response.json()
    assert report["reported_user_id"] == sara.user_id
    assert report["message_text"] == "rude words"
    response = await harness.http.post(
        f"/v1/admin/reports/{report['id']}", json={"status": "resolved"}, headers=admin.headers
    )
    assert response.status_code == 204
    assert (await harness.http.get("/v1/admin/reports", headers=admin.headers)).json() == []
    resolved = await harness.http.get("/v1/admin/reports?status=resolved", headers=admin.headers)
    assert [r["id"] for r in resolved.json()] == [report["id"]]
    data, _ = await export_of(harness, sara)
    assert "report_view" in [r["action"] for r in data["admin_access"]]


async def test_the_audit_trail_lists_operator_reads_newest_first_and_is_not_itself_recorded(
    harness: Harness,
) -> None:
    admin = await make_admin(harness)
    sara = await harness.sign_in("+989120000001", "Sara")
    response = await harness.http.get("/v1/admin/audit", headers=admin.headers)
    assert response.json() == {"entries": [], "next_before": None}
    await harness.http.get(f"/v1/admin/users?user_id={sara.user_id}", headers=admin.headers)
    response = await harness.http.post(
        f"/v1/admin/users/{sara.user_id}/suspend", headers=admin.headers
    )
    assert response.status_code == 204
    response = await harness.http.get("/v1/admin/audit", headers=admin.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [(e["admin_id"], e["subject_id"], e["action"]) for e in body["entries"]] == [
        (admin.user_id, sara.user_id, "suspend"),
        (admin.user_id, sara.user_id, "lookup"),
    ]
    assert body["entries"][0]["at"].endswith("Z")
    assert body["next_before"] is None
    # Reading the trail is a read of nobody: the trail, Sara's export and the admin's show no
    # more than the look-up and the two actions on her account.
    again = await harness.http.get("/v1/admin/audit", headers=admin.headers)
    assert again.json() == body
    await harness.http.delete(f"/v1/admin/users/{sara.user_id}/suspend", headers=admin.headers)
    data, _ = await export_of(harness, sara)
    assert [r["action"] for r in data["admin_access"]] == ["lookup", "suspend", "unsuspend"]
    admin_data, _ = await export_of(harness, admin)
    assert admin_data["admin_access"] == []


async def test_the_audit_trail_pages_back_with_before(harness: Harness) -> None:
    admin = await make_admin(harness)
    sara = await harness.sign_in("+989120000001", "Sara")
    for _ in range(5):
        await harness.http.get(f"/v1/admin/users?user_id={sara.user_id}", headers=admin.headers)
    seen: list[int] = []
    before: int | None = None
    pages = 0
    while True:
        params = {"limit": 2} | ({"before": before} if before is not None else {})
        response = await harness.http.get("/v1/admin/audit", params=params, headers=admin.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["entries"]) <= 2
        seen += [e["id"] for e in body["entries"]]
        pages += 1
        before = body["next_before"]
        if before is None:
            break
    assert pages == 3
    assert len(seen) == 5
    assert seen == sorted(seen, reverse=True)
    too_many = await harness.http.get("/v1/admin/audit?limit=100000", headers=admin.headers)
    assert too_many.status_code == 422


async def test_payam_admin_grant_and_revoke(harness: Harness) -> None:
    if harness.settings.database_url and "postgresql" in harness.settings.database_url:
        return  # the command reads PAYAM_* settings; the service is the same on both
    sara = await harness.sign_in("+989120000001", "Sara")
    runner = CliRunner()
    env = {
        "PAYAM_DATA_DIR": str(harness.settings.data_dir),
        "PAYAM_SECRET_KEY": harness.settings.secret().decode(),
        "PAYAM_DATABASE_URL": harness.settings.database_url or "",
    }
    result = await asyncio.to_thread(runner.invoke, cli, ["admin", "grant", sara.phone], env=env)
    assert result.exit_code == 0, result.output
    assert "is now an admin" in result.output
    response = await harness.http.get("/v1/admin/reports", headers=sara.headers)
    assert response.status_code == 200
    result = await asyncio.to_thread(runner.invoke, cli, ["admin", "revoke", sara.phone], env=env)
    assert result.exit_code == 0, result.output
    response = await harness.http.get("/v1/admin/reports", headers=sara.headers)
    assert response.status_code == 404
    result = await asyncio.to_thread(
        runner.invoke, cli, ["admin", "grant", "+989129999999"], env=env
    )
    assert result.exit_code == 1
