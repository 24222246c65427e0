"""A call end to end with real media (issue 11): two aiortc peers signed in as two users, their
signalling only through payam's WebSocket, ICE restricted to relay candidates through a local
coturn with credentials from ``GET /v1/calls/turn``. A 440 Hz tone sent by one is heard at
440 Hz by the other. Wrong and expired TURN credentials get no relay at all.

Media runs in real time (a tone needs its seconds); no timing is asserted.
"""

from __future__ import annotations

import asyncio
import fractions
import math
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from payam.services.calls import turn_password
from tests.conftest import Account, Harness, LiveServer
from tests.realtime.conftest import make_chatters, open_socket, sqlite_only
from tests.realtime.coturn import Coturn, need_turnserver, start_coturn

RATE = 48000
SAMPLES = 960  # 20 ms frames, as Opus sends them
TONE = 440.0


@pytest.fixture
async def coturn(tmp_path: Path) -> AsyncIterator[Coturn]:
    need_turnserver()
    directory = tmp_path / "coturn"
    directory.mkdir()
    async for server in start_coturn(directory):
        yield server


def tone_track() -> Any:
    """An audio track playing a 440 Hz sine, paced in real time."""
    import av  # noqa: PLC0415
    from aiortc import MediaStreamTrack  # noqa: PLC0415

    class Sine(MediaStreamTrack):  # type: ignore[misc]
        kind = "audio"

        def __init__(self) -> None:
            super().__init__()
            self.pts = 0
            self.start: float | None = None

        async def recv(self) -> Any:
            if self.start is None:
                self.start = time.monotonic()
            wait = self.start + self.pts / RATE - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            t = (np.arange(SAMPLES) + self.pts) / RATE
            wave = (0.5 * 32767 * np.sin(2 * math.pi * TONE * t)).astype(np.int16)
            frame = av.AudioFrame.from_ndarray(wave.reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate = RATE
            frame.pts = self.pts
            frame.time_base = fractions.Fraction(1, RATE)
            self.pts += SAMPLES
            return frame

    return Sine()


def dominant_frequency(samples: np.ndarray[Any, Any], rate: int) -> float:
    window = samples * np.hanning(len(samples))
    spectrum = np.abs(np.fft.rfft(window))
    freqs = np.fft.rfftfreq(len(samples), 1 / rate)
    return float(freqs[int(np.argmax(spectrum[1:])) + 1])


async def turn_for(harness: Harness, who: Account) -> dict[str, Any]:
    response = await harness.http.get("/v1/calls/turn", headers=who.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def peer(turn: dict[str, Any]) -> Any:
    from aiortc import (  # noqa: PLC0415
        RTCConfiguration,
        RTCIceServer,
        RTCIceTransportPolicy,
        RTCPeerConnection,
    )

    server = RTCIceServer(urls=turn["uris"], username=turn["username"], credential=turn["password"])
    return RTCPeerConnection(
        RTCConfiguration(iceServers=[server], iceTransportPolicy=RTCIceTransportPolicy.RELAY)
    )


async def relay_candidates(turn: dict[str, Any]) -> list[str]:
    """The candidates a relay-only peer gathers with these credentials."""
    pc = peer(turn)
    try:
        pc.addTransceiver("audio")
        await pc.setLocalDescription(await pc.createOffer())
        sdp: str = pc.localDescription.sdp
        return [line for line in sdp.splitlines() if line.startswith("a=candidate:")]
    finally:
        await pc.close()


@sqlite_only
async def test_a_tone_crosses_a_relay_only_call_signalled_through_payam(
    make_harness: Any, serve_live: Any, coturn: Coturn
) -> None:
    from aiortc import RTCSessionDescription  # noqa: PLC0415

    harness: Harness = await make_harness(turn_uris=(coturn.uri,), turn_secret=coturn.secret)
    server: LiveServer = await serve_live(harness)
    chatters = await make_chatters(harness, server)
    ali, bita = chatters.ali, chatters.bita
    # The service mints with the wall clock's expiry: coturn checks it against real time.
    harness.clock.advance(time.time() - harness.clock.now())
    pc_a = peer(await turn_for(harness, ali))
    pc_b = peer(await turn_for(harness, bita))
    heard: asyncio.Queue[Any] = asyncio.Queue()

    @pc_b.on("track")  # type: ignore[misc]
    def on_track(track: Any) -> None:
        heard.put_nowait(track)

    try:
        async with open_socket(server, ali.token) as a, open_socket(server, bita.token) as b:
            await a.resume(0)
            await b.resume(0)
            pc_a.addTrack(tone_track())
            await pc_a.setLocalDescription(await pc_a.createOffer())
            offer = pc_a.localDescription.sdp
            assert "typ relay" in offer
            assert "typ host" not in offer and "typ srflx" not in offer
            await a.send(
                type="call.invite",
                chat_id=chatters.direct_id,
                call_id="tone-1",
                sdp=offer,
                video=False,
            )

            ringing = await b.next("call.invite")
            await pc_b.setRemoteDescription(RTCSessionDescription(ringing["sdp"], "offer"))
            await pc_b.setLocalDescription(await pc_b.createAnswer())
            answer = pc_b.localDescription.sdp
            assert "typ relay" in answer and "typ host" not in answer
            await b.send(type="call.answer", call_id="tone-1", sdp=answer)

            answered = await a.next("call.answer")
            await pc_a.setRemoteDescription(RTCSessionDescription(answered["sdp"], "answer"))
            await a.send(type="call.select_answer", call_id="tone-1", device_id=bita.device_id)

            track = await asyncio.wait_for(heard.get(), 20)
            samples: list[np.ndarray[Any, Any]] = []
            async with asyncio.timeout(30):
                while sum(len(s) for s in samples) < RATE * 2:
                    frame = await track.recv()
                    data = frame.to_ndarray()
                    channels = len(frame.layout.channels)
                    samples.append(data.reshape(-1, channels)[:, 0].astype(np.float64))
            assert pc_a.connectionState == "connected"
            assert pc_b.connectionState == "connected"
            # The first half second is the codec settling; the rest is the tone.
            sound = np.concatenate(samples)[RATE // 2 :]
            assert np.abs(sound).max() > 1000  # not silence
            assert dominant_frequency(sound, RATE) == pytest.approx(TONE, abs=5)

            await a.send(type="call.hangup", call_id="tone-1")
            assert (await b.next("call.ended"))["outcome"] == "answered"
    finally:
        await pc_a.close()
        await pc_b.close()
    response = await harness.http.get(
        f"/v1/chats/{chatters.direct_id}/messages", headers=bita.headers
    )
    (record,) = [m for m in response.json()["messages"] if m.get("kind") == "call"]
    assert record["call"]["outcome"] == "answered"
    assert record["call"]["video"] is False


async def test_wrong_or_expired_turn_credentials_get_no_relay(coturn: Coturn) -> None:
    now = int(time.time())
    username = f"{now + 3600}:1"
    good = {"uris": [coturn.uri], "username": username}
    assert await relay_candidates({**good, "password": turn_password(coturn.secret, username)})
    wrong = turn_password("not-the-secret-" + "x" * 20, username)
    assert await relay_candidates({**good, "password": wrong}) == []
    expired = f"{now - 60}:1"
    stale = {"uris": [coturn.uri], "username": expired}
    assert (
        await relay_candidates({**stale, "password": turn_password(coturn.secret, expired)}) == []
    )
