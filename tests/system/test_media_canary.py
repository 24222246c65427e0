"""Removed media leave no byte on disk (issue 4 "the file and its thumbnails are deleted from
disk"; P5.3), proven on the real ``payam serve`` over real HTTP.

Documents carrying unique canaries, and a photo, are uploaded and sent, then removed in each way
a user can remove them: a message deleted for everyone, a group deleted by its owner, an upload
never sent (expired by ``payam maintenance prune`` with ``PAYAM_MEDIA_UNATTACHED_HOURS=0``).
Every file of the data directory and the server's log are then read byte by byte. A control
file still carried by a message must be found, and so must every canary before its removal, so
a scan that cannot see the bytes fails rather than passes.
"""

from __future__ import annotations

import io
import secrets
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.system.test_deletion_canary import found_in_files, wait_until_gone
from tests.system.test_server import (
    assert_stopped_cleanly,
    free_port,
    running,
    server_env,
    sign_in,
)

pytestmark = pytest.mark.system


def document(word: str) -> tuple[bytes, bytes]:
    """A PDF holding a unique canary, and the canary."""
    mark = f"PAYAM-{word}-{secrets.token_hex(12)}".encode()
    return b"%PDF-1.7\n" + mark * 20 + b"\n%%EOF\n", mark


def photo() -> bytes:
    out = io.BytesIO()
    Image.effect_noise((300, 200), 60).convert("RGB").save(out, "JPEG", quality=90)
    return out.getvalue()


def test_removed_media_leave_no_trace_in_the_data_directory(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    env = server_env(PAYAM_PURGE_DELAY_SECONDS="0.5")
    args = ["--port", str(port), "--data-dir", str(data_dir)]
    deleted, deleted_mark = document("deleted")
    grouped, grouped_mark = document("grouped")
    unsent, unsent_mark = document("unsent")
    control, control_mark = document("control")

    with running(tmp_path, data_dir, port, args, env) as server, server.http() as client:
        ali = sign_in(server, client, "+989124550001", "Ali")
        bita = sign_in(server, client, "+989124550002", "Bita")
        a = {"Authorization": f"Bearer {ali['token']}"}
        b = {"Authorization": f"Bearer {bita['token']}"}

        def post(path: str, body: object, headers: dict[str, str]) -> httpx.Response:
            response = client.post(path, json=body, headers=headers)
            assert response.status_code < 300, response.text
            return response

        def upload(data: bytes, mime: str) -> int:
            response = client.post("/v1/media", files={"file": ("f", data, mime)}, headers=a)
            assert response.status_code == 201, response.text
            media_id: int = response.json()["id"]
            return media_id

        def send(chat_id: int, media_id: int) -> int:
            body = {"client_id": secrets.token_hex(8), "media_ids": [media_id]}
            message_id: int = post(f"/v1/chats/{chat_id}/messages", body, a).json()["id"]
            return message_id

        direct = {"type": "direct", "user_id": bita["user"]["id"]}
        direct_id: int = post("/v1/chats", direct, a).json()["id"]
        group = {"type": "group", "title": "Doomed", "member_ids": [bita["user"]["id"]]}
        group_id: int = post("/v1/chats", group, a).json()["id"]

        deleted_id = send(direct_id, upload(deleted, "application/pdf"))
        picture_id = upload(photo(), "image/jpeg")
        picture_message = send(direct_id, picture_id)
        stored_photo = client.get(f"/v1/media/{picture_id}", headers=b).content
        stored_thumb = client.get(f"/v1/media/{picture_id}/thumbnail", headers=b).content
        send(group_id, upload(grouped, "application/pdf"))
        unsent_id = upload(unsent, "application/pdf")
        send(direct_id, upload(control, "application/pdf"))

        removed = [deleted_mark, grouped_mark, unsent_mark, stored_photo[-64:], stored_thumb[-64:]]
        before = found_in_files(server, [*removed, control_mark])
        assert set(before) == {*removed, control_mark}, before.keys()

        for message_id in (deleted_id, picture_message):
            response = client.delete(
                f"/v1/chats/{direct_id}/messages/{message_id}",
                params={"for": "everyone"},
                headers=a,
            )
            assert response.status_code == 204
        response = client.delete(f"/v1/chats/{group_id}", params={"delete": "true"}, headers=a)
        assert response.status_code == 204
        prune = subprocess.run(
            [sys.executable, "-m", "payam", "maintenance", "prune", "--data-dir", str(data_dir)],
            cwd=tmp_path,
            env=server_env(PAYAM_MEDIA_UNATTACHED_HOURS="0"),
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert prune.returncode == 0, prune.stdout + prune.stderr
        assert client.get(f"/v1/media/{unsent_id}", headers=a).status_code == 404
        assert client.get(f"/v1/media/{picture_id}", headers=b).status_code == 404

        left = wait_until_gone(server, removed)
        assert not left, f"removed media still on disk: {left}"
        assert control_mark in found_in_files(server, [control_mark])
    assert_stopped_cleanly(server)
    assert not found_in_files(server, removed)
