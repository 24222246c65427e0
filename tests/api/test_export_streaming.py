"""The export is streamed, not built in memory (issue 9 #12, P11.1): each file once in the zip,
memory bounded whatever the files weigh, and the server keeps answering while it is built."""

from __future__ import annotations

import asyncio
import io
import os
import threading
import tracemalloc
import zipfile
from typing import Any

import pytest

from payam.domain.models import Caller
from payam.services import export as export_service
from tests.api.message_helpers import people
from tests.api.test_export import export_of
from tests.api.test_media import uploaded
from tests.conftest import Account, Harness

MB = 1024 * 1024
# A bound for a thread or task to reach a point: a deadlock fails instead of hanging.
WAIT = 10.0


async def upload_file(harness: Harness, who: Account, data: bytes, name: str) -> int:
    body = await uploaded(harness, who, data, filename=name)
    media_id: int = body["id"]
    return media_id


async def test_the_same_bytes_uploaded_twice_are_one_entry_in_the_zip(harness: Harness) -> None:
    [sara] = await people(harness, "Sara")
    document = b"%PDF-1.7\n" + os.urandom(4096) + b"\n%%EOF\n"
    first = await upload_file(harness, sara, document, "a.pdf")
    second = await upload_file(harness, sara, document, "b.pdf")
    assert first != second
    data, archive = await export_of(harness, sara)
    names = archive.namelist()
    assert len(names) == len(set(names)), names
    files = {item["media_id"]: item["file"] for item in data["media"]}
    assert files[first] == files[second]  # both uploads name the one stored file
    assert archive.read(files[first]) == document
    assert archive.testzip() is None


async def test_a_large_export_stays_within_bounded_memory(harness: Harness) -> None:
    """Three 6 MB files: the old build held the whole zip (18 MB and more) in memory."""
    [sara] = await people(harness, "Sara")
    for i in range(3):
        await upload_file(harness, sara, os.urandom(6 * MB), f"big{i}.bin")
    caller = Caller(user_id=sara.user_id, device_id=sara.device_id)
    tracemalloc.start()
    try:
        export = await harness.services.export.export_file(caller)
        total = 0
        async for chunk in export.chunks():
            total += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total > 18 * MB
    assert peak < 6 * MB, f"peak {peak / MB:.1f} MB while exporting {total / MB:.1f} MB"


async def test_health_answers_while_an_export_is_being_built(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The building is held inside its work (the HTML page); /health must answer meanwhile.
    Built on the event loop, the hold would stop the loop, and /health with it."""
    [sara] = await people(harness, "Sara")
    await upload_file(harness, sara, os.urandom(2 * MB), "big.bin")
    building, release = threading.Event(), threading.Event()
    render = export_service.render_html

    def held_render(data: dict[str, Any]) -> str:
        building.set()
        release.wait(WAIT)  # bounded: a blocked loop cannot release it, the timeout does
        return render(data)

    monkeypatch.setattr(export_service, "render_html", held_render)
    exporting = asyncio.create_task(harness.http.get("/v1/me/export", headers=sara.headers))
    try:
        assert await asyncio.to_thread(building.wait, WAIT)
        health = await harness.client().get("/health")
        assert health.status_code == 200
        assert not exporting.done(), "the export finished before /health could answer"
    finally:
        release.set()
    response = await exporting
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    assert int(response.headers["content-length"]) == len(response.content)
    assert response.headers["content-disposition"] == (
        f'attachment; filename="payam-export-{sara.user_id}.zip"'
    )
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.testzip() is None
