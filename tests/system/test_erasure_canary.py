"""Erasure is complete on disk (P11.3, P5.3), proven on the real ``payam serve`` over HTTP.

Sara gets a unique canary in every personal field a client can fill: name, status, a photo
(whose stored, re-encoded bytes are read back as the canary), messages in a group and in a
direct chat, the device's model, OS and app version, the browser version the access log
keeps, and her uploaded contacts (their keyed hashes, read from the database). She deletes her
account with a fresh code; the server purges, and ``payam maintenance purge`` runs too. Then
every file of the data directory (the SQLite file, WAL, SHM, blobs) and the server's log are
read byte by byte: no canary of hers may be found, and her photo files are gone. Omid, in the
same chats, has control canaries that must still be found, so a scan that sees nothing fails.

Left out of the byte scan: ``sms-outbox.jsonl`` stands for the SMS provider and holds the
numbers codes were sent to (Omid's stay); it is checked on its own: no line to Sara's number is
left. The number's keyed hash is kept on purpose in ``erasure_cooldowns`` (the data map lists
it).
"""

from __future__ import annotations

import io
import secrets
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.system.test_server import Server, free_port, running, server_env

pytestmark = pytest.mark.system


def token() -> str:
    return secrets.token_hex(8)


def files_of(server: Server) -> list[Path]:
    found = [p for p in server.data_dir.rglob("*") if p.is_file() and p.name != "sms-outbox.jsonl"]
    return [*found, server.log_path]


def scan(server: Server, needles: dict[str, bytes]) -> dict[str, list[str]]:
    hits: dict[str, list[str]] = {}
    for path in files_of(server):
        try:
            content = path.read_bytes()
        except FileNotFoundError:
            continue
        for label, needle in needles.items():
            if needle in content:
                hits.setdefault(label, []).append(path.name)
    return hits


def query(data_dir: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{data_dir / 'payam.sqlite3'}?mode=ro", uri=True)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def png(colour: tuple[int, int, int]) -> bytes:
    image = Image.new("RGB", (96, 96), colour)
    for x in range(96):  # pixels of their own, so the stored file is Sara's alone
        image.putpixel((x, x), (x, 255 - x, colour[0]))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def session(
    server: Server, client: httpx.Client, phone: str, name: str, device: dict[str, str]
) -> dict[str, Any]:
    assert client.post("/v1/auth/code", json={"phone": phone}).status_code == 202
    response = client.post(
        "/v1/auth/session",
        json={"phone": phone, "code": server.last_code(phone), "name": name, "device": device},
    )
    assert response.status_code == 201, response.text
    found: dict[str, Any] = response.json()
    return found


def test_an_erased_account_leaves_no_canary_anywhere_in_the_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    env = server_env(PAYAM_PURGE_DELAY_SECONDS="0.2", PAYAM_CODE_RESEND_WAITS="2,2,2")
    args = ["--port", str(port), "--data-dir", str(data_dir)]
    sara_phone, omid_phone, friend = "+989127770001", "+989127770002", "+989127770099"
    mark = {field: f"{field}{token()}" for field in ("name", "status", "group", "direct")}
    device = {"model": f"model{token()}", "os": f"os{token()}", "app_version": f"v{token()}"}
    version = f"{secrets.randbelow(800) + 100}.{secrets.randbelow(900) + 100}"
    agent = f"Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/{version}"
    control = {"name": f"omid{token()}", "text": f"control{token()}"}

    with running(tmp_path, data_dir, port, args, env) as server, server.http() as client:
        sara = session(server, client, sara_phone, mark["name"], device)
        omid = session(
            server,
            client,
            omid_phone,
            control["name"],
            {"model": "Pixel", "os": "Android", "app_version": "1.0"},
        )
        s = {"Authorization": f"Bearer {sara['token']}", "User-Agent": agent}
        o = {"Authorization": f"Bearer {omid['token']}"}
        sara_id, omid_id = sara["user"]["id"], omid["user"]["id"]

        def ok(response: httpx.Response) -> dict[str, Any]:
            assert response.status_code < 300, response.text
            body: dict[str, Any] = response.json() if response.content else {}
            return body

        ok(client.patch("/v1/me", json={"status": mark["status"]}, headers=s))
        ok(
            client.put(
                "/v1/me/photo", files={"file": ("p.png", png((7, 99, 201)), "image/png")}, headers=s
            )
        )
        ok(client.put("/v1/contacts", json={"phones": [omid_phone, friend]}, headers=s))
        group = ok(
            client.post(
                "/v1/chats",
                json={"type": "group", "title": "Walkers", "member_ids": [omid_id]},
                headers=s,
            )
        )["id"]
        direct = ok(
            client.post("/v1/chats", json={"type": "direct", "user_id": omid_id}, headers=s)
        )["id"]
        for chat_id, text, headers in (
            (group, mark["group"], s),
            (direct, mark["direct"], s),
            (group, control["text"], o),
        ):
            ok(
                client.post(
                    f"/v1/chats/{chat_id}/messages",
                    json={"client_id": token(), "text": text},
                    headers=headers,
                )
            )
        ok(client.get("/v1/me", headers=s))

        # What the server made of Sara's data, read back from the database itself.
        blobs = sorted(p for p in (data_dir / "blobs").rglob("*") if p.is_file())
        assert len(blobs) == 2
        needles = {k: v.encode() for k, v in {**mark, **device}.items()}
        needles |= {f"photo{i}": p.read_bytes()[200:264] for i, p in enumerate(blobs)}
        needles["browser_version"] = version.encode()
        # The uploaded number of a non-user; Omid's number's hash is his own account's too.
        [(contact,)] = query(
            data_dir,
            "SELECT phone_hash FROM contacts WHERE user_id = ? "
            "AND phone_hash NOT IN (SELECT phone_hash FROM users)",
            sara_id,
        )
        needles["contact"] = contact
        deadline = time.monotonic() + 30  # the access log is written in batches
        while not query(
            data_dir, "SELECT browser_version FROM access_log WHERE user_id = ?", sara_id
        ):
            assert time.monotonic() < deadline, "the access log never recorded Sara's browser"
            time.sleep(0.2)
        controls = {k: v.encode() for k, v in control.items()}

        # The scan can fail: everything is there before the erasure.
        before = scan(server, needles | controls)
        assert set(before) == set(needles) | set(controls), set(needles) - set(before)

        code_response = client.post("/v1/auth/code", json={"phone": sara_phone})
        assert code_response.status_code == 429  # the sign-in code was a moment ago
        # Past the wait: a real server has a real clock, so ask the server after it.
        retry = int(code_response.headers["Retry-After"])
        assert retry <= 60
        time.sleep(retry + 0.5)
        ok(client.post("/v1/auth/code", json={"phone": sara_phone}))
        receipt = ok(
            client.request(
                "DELETE", "/v1/me", json={"code": server.last_code(sara_phone)}, headers=s
            )
        )
        assert receipt["user_id"] == sara_id and receipt["removed"]["messages"] == 2
        # (Without Sara's browser: a request after the erasure is a new, anonymous one.)
        gone = {"Authorization": s["Authorization"]}
        assert client.get("/v1/me", headers=gone).status_code == 401
        # Issue 9 #7: the texts sent to her number went with the account; Omid's stay.
        outbox = (data_dir / "sms-outbox.jsonl").read_bytes()
        assert sara_phone.encode() not in outbox
        assert omid_phone.encode() in outbox

        purge = subprocess.run(
            [sys.executable, "-m", "payam", "maintenance", "purge", "--data-dir", str(data_dir)],
            cwd=tmp_path,
            env=server_env(),
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert purge.returncode == 0, purge.stdout + purge.stderr
        assert not any(p.exists() for p in blobs), "photo files are gone"
        left = scan(server, needles)
        assert left == {}, f"erased data still on disk: {left}"
        assert set(scan(server, controls)) == set(controls), "Omid's data must still be there"
