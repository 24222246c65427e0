"""Black-box: ``payam serve --workers 2`` on PostgreSQL and the Redis bus (issue #12).

Two worker processes accept on one port. A message sent through one worker reaches the
recipient's sockets held by the other: the test finds which worker holds each connection (by
the connection's port in ``/proc/net/tcp`` and the workers' socket descriptors), so it is
known to cross. On SQLite, or without the Redis bus, ``--workers`` is refused with a reason.

Needs PostgreSQL (``PAYAM_REQUIRE_POSTGRES=1`` makes its absence a failure) and Redis
(``PAYAM_REQUIRE_REDIS=1`` likewise) except for the refusals.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from websockets.asyncio.client import connect

from tests.conftest import POSTGRES_URL, REDIS_URL
from tests.realtime.conftest import Socket, close
from tests.system.test_server import free_port, running, server_env, sign_in
from tests.system.test_two_processes import listeners, shared_backends

pytestmark = pytest.mark.system
__all__ = ["shared_backends"]  # the fixture, used by name

BOUND = 60.0


def workers_of(parent: int) -> list[int]:
    """The parent's worker processes (not multiprocessing's resource tracker)."""
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    return [
        int(pid)
        for pid in children
        if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]


def worker_holding(workers: list[int], server_port: int, client_port: int) -> int | None:
    """The worker whose descriptors include the server end of the connection from
    ``client_port``."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            if (
                int(local.rsplit(":", 1)[1], 16) == server_port
                and int(remote.rsplit(":", 1)[1], 16) == client_port
            ):
                inodes.add(f"socket:[{inode}]")
    for pid in workers:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if fd.readlink().name in inodes or str(fd.readlink()) in inodes:
                    return pid
            except OSError:
                continue
    return None


@pytest.mark.parametrize(
    "env",
    [
        {},  # SQLite
        {"PAYAM_DATABASE_URL": "postgresql+asyncpg://nobody@127.0.0.1:1/none"},  # no Redis bus
    ],
)
def test_workers_are_refused_without_postgresql_and_redis(
    tmp_path: Path, env: dict[str, str]
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "payam", "serve", "--workers", "2", "--data-dir", str(tmp_path)],
        env=server_env(**env),
        capture_output=True,
        text=True,
        timeout=BOUND,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 2
    said = " ".join(done.stdout.split())
    assert "--workers needs" in said
    assert ("PostgreSQL" in said) if not env else ("Redis" in said)


async def test_a_message_sent_through_one_worker_reaches_sockets_on_the_other(
    tmp_path: Path, shared_backends: tuple[str, str]
) -> None:
    schema, channel = shared_backends
    port = free_port()
    data_dir = tmp_path / "data"
    env = server_env(
        PAYAM_DATABASE_URL=POSTGRES_URL,
        PAYAM_DATABASE_SCHEMA=schema,
        PAYAM_EVENT_BUS="redis",
        PAYAM_REDIS_URL=REDIS_URL,
        PAYAM_REDIS_CHANNEL=channel,
    )
    args = ["--workers", "2", "--port", str(port), "--data-dir", str(data_dir)]
    admin = aioredis.from_url(REDIS_URL)
    try:
        with running(tmp_path, data_dir, port, args, env) as server, server.http() as http:
            async with asyncio.timeout(BOUND):
                # Polling Redis, another process: no event of ours to wait for.
                while await listeners(admin, channel) < 2:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
            workers = workers_of(server.process.pid)
            assert len(workers) == 2, workers
            ali = sign_in(server, http, "+989124450001", "Ali")
            bita = sign_in(server, http, "+989124450002", "Bita")
            ali_auth = {"Authorization": f"Bearer {ali['token']}"}
            made = http.post(
                "/v1/chats",
                json={"type": "direct", "user_id": bita["user"]["id"]},
                headers=ali_auth,
            )
            assert made.status_code == 201, made.text
            chat_id = made.json()["id"]

            async with AsyncExitStack() as stack:
                # Bita's sockets until each worker holds at least one (bounded).
                sockets: dict[int, Socket] = {}
                for _ in range(40):
                    ws = await connect(
                        server.url.replace("http://", "ws://") + "/v1/ws",
                        additional_headers={"Authorization": f"Bearer {bita['token']}"},
                    )
                    stack.push_async_callback(close, ws)
                    socket = Socket(ws)
                    await socket.resume(0)  # past synced: served, so the worker is known
                    holder = worker_holding(workers, port, ws.local_address[1])
                    assert holder in workers
                    sockets.setdefault(holder, socket)
                    if len(sockets) == 2:
                        break
                assert len(sockets) == 2, "every socket landed on one worker"

                # Ali's sends, each on a new connection, until both workers carried one.
                through: set[int] = set()
                seq = 1  # Bita's chat_new
                for n in range(40):
                    transport = httpx.AsyncHTTPTransport()
                    async with httpx.AsyncClient(
                        base_url=server.url, timeout=10, transport=transport
                    ) as client:
                        await client.get("/health")  # the connection exists: whose is it?
                        pool = transport._pool.connections
                        stream = pool[0]._connection._network_stream  # type: ignore[union-attr]
                        local = stream.get_extra_info("socket").getsockname()[1]
                        holder = worker_holding(workers, port, local)
                        sent = await client.post(
                            f"/v1/chats/{chat_id}/messages",
                            json={"client_id": f"w-{n}", "text": f"through {holder}"},
                            headers=ali_auth,
                        )
                    assert sent.status_code == 201, sent.text
                    seq += 1
                    for socket in sockets.values():  # both workers' sockets, live
                        (got,) = await socket.updates_until(seq)
                        assert got["seq"] == seq
                        assert got["message"] == sent.json()
                    assert holder is not None
                    through.add(holder)
                    if len(through) == 2:
                        break
                assert through == set(workers), "every send went through one worker"
        assert "Traceback" not in server.log(), server.log()
    finally:
        await admin.aclose()
