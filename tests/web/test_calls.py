"""Calls and notifications in the web client, in Debian's chromium against a real ``payam
serve`` (docs/calls.md, docs/push.md).

Two people call each other with chromium's fake microphone and camera, relay only
(``iceTransportPolicy: "relay"``) through a real coturn on loopback whose credentials come from
``GET /v1/calls/turn``; both reach ``connected`` and the bytes of audio received keep growing.
A camera turned on mid-call reaches the other side (``call.negotiate``); a call that rings out
shows as missed in the chat list. A push delivered to the service worker over the DevTools
protocol shows "New message" (no content unless the person chose it) and opens the chat.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.realtime.coturn import SECRET, Coturn, _free_port, need_turnserver, write_config
from tests.web.conftest import CHROMIUM, LAUNCH_ARGS, Person, Server, copy_to_docs
from tests.web.test_e2e import add_contact_and_open_chat, expect, message, send

pytestmark = pytest.mark.system

MEDIA_ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]


@pytest.fixture(scope="module")
def coturn(e2e_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coturn]:
    """coturn on loopback, as tests/realtime/coturn.py starts it, for a synchronous test."""
    program = need_turnserver()
    directory = tmp_path_factory.mktemp("coturn")
    port = _free_port()
    config = write_config(directory, port)
    process = subprocess.Popen(
        [program, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_listening(port, process)
        yield Coturn(port, SECRET)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def _wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    import socket  # noqa: PLC0415

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"turnserver exited with {process.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("turnserver did not listen")


@pytest.fixture(scope="module")
def server(coturn: Coturn, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(
        tmp_path_factory.mktemp("payam-calls"),
        env={
            "PAYAM_TURN_URIS": coturn.uri,
            "PAYAM_TURN_SECRET": coturn.secret,
            "PAYAM_PUSH_ALLOW_HOSTS": "127.0.0.1",
        },
    )
    running.start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser(e2e_ready: None) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS + MEDIA_ARGS)
        yield launched
        launched.close()


STATS = """async () => {
    const report = await window.__payamCallStats?.();
    if (!report) return null;
    let audio = 0, relay = false;
    const byId = new Map();
    report.forEach((s) => byId.set(s.id, s));
    report.forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'audio') audio += s.bytesReceived || 0;
        if (s.type === 'candidate-pair' && s.state === 'succeeded' && s.nominated) {
            const local = byId.get(s.localCandidateId), remote = byId.get(s.remoteCandidateId);
            relay = local?.candidateType === 'relay' && remote?.candidateType === 'relay';
        }
    });
    return {audio, relay};
}"""


def call_screen(person: Person) -> Any:
    return person.page.locator(".call-screen")


def audio_bytes(person: Person) -> int:
    stats = person.page.evaluate(STATS)
    assert stats is not None
    return int(stats["audio"])


def wait_for(check: Any, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def two_in_a_chat(people: Any, *, lang: str = "en") -> tuple[Person, Person]:
    ali = people("Ali")
    bita = people("بیتا" if lang == "fa" else "Bita", locale="fa-IR" if lang == "fa" else "en-GB")
    for person in (ali, bita):
        person.context.grant_permissions(["microphone", "camera"])
    bita.sign_in_quickly()
    if lang == "fa":
        bita.open("/?lang=fa")
    ali.sign_in_quickly()
    add_contact_and_open_chat(ali, bita)
    send(ali, "shall we talk?")
    expect(message(ali, "shall we talk?")).to_contain_text("Sent")
    return ali, bita


def test_two_pages_call_each_other_through_coturn_with_audio_flowing(people: Any) -> None:
    ali, bita = two_in_a_chat(people)
    ali.page.get_by_role("button", name="Call Bita", exact=True).click()
    expect(call_screen(ali)).to_have_attribute("data-phase", "outgoing")
    expect(call_screen(ali)).to_contain_text("Calling…")

    # Bita's page rings, wherever she is in the app.
    ringing = bita.page.get_by_role("dialog", name="Call with Ali")
    expect(ringing).to_contain_text("Incoming call")
    bita.screenshot("call-incoming-en")
    assert bita.axe() == []
    ringing.get_by_role("button", name="Accept").click()

    for person in (ali, bita):
        expect(call_screen(person)).to_have_attribute("data-phase", "connected", timeout=30_000)
        expect(call_screen(person).locator(".call-timer")).to_have_text(re.compile(r"^\d+:\d\d$"))

    # Audio flows both ways, through the relay only.
    for person in (ali, bita):
        first = wait_for(lambda p=person: audio_bytes(p) or None)
        assert first, f"{person.name} received no audio"
        assert wait_for(lambda p=person, f=first: audio_bytes(p) > f), "audio stopped"
        assert person.page.evaluate(STATS)["relay"] is True

    # Mute is a local switch; the camera turned on mid-call reaches the other side
    # (call.negotiate adds the video on a voice call).
    mute = ali.page.get_by_role("button", name="Mute")
    mute.click()
    expect(ali.page.get_by_role("button", name="Unmute")).to_have_attribute("aria-pressed", "true")
    ali.page.get_by_role("button", name="Turn camera on").click()
    expect(ali.page.get_by_role("button", name="Turn camera off")).to_be_visible()
    expect(call_screen(bita)).to_have_class(re.compile(r"\bwith-video\b"), timeout=20_000)
    time.sleep(1)  # a frame of the fake camera on the screenshot
    bita.screenshot("call-connected-en")
    assert bita.axe() == []
    copy_to_docs("call-connected-en", "call-connected-en.png")

    # Sound output: chromium can choose (setSinkId); the other side's voice moves there.
    output = bita.page.get_by_label("Sound output")
    choices = output.locator("option").evaluate_all("os => os.map(o => o.value)")
    assert len(choices) > 1, choices
    output.select_option(choices[-1])
    expect(bita.page.locator("#call-audio")).to_have_js_property("sinkId", choices[-1])

    # Hang up: both screens close and the call's record is in the chat and the chat list.
    ali.page.get_by_role("button", name="Hang up").click()
    for person in (ali, bita):
        expect(call_screen(person)).to_have_count(0, timeout=10_000)
    expect(ali.page.get_by_role("log").locator(".call-record")).to_contain_text("Voice call · ")
    item = bita.page.get_by_role("list", name="Chats").get_by_role("listitem").first
    expect(item).to_contain_text("Voice call · ")


def test_a_declined_call_and_a_missed_call_show_in_the_chat_and_the_list(people: Any) -> None:
    ali, bita = two_in_a_chat(people)
    # Count the ringtone's tones (WebAudio oscillators) as the page makes them.
    bita.page.evaluate(
        """() => { window.__tones = [];
            const make = AudioContext.prototype.createOscillator;
            AudioContext.prototype.createOscillator = function () {
                const o = make.call(this);
                setTimeout(() => __tones.push(o.frequency.value));
                return o;
            }; }"""
    )
    ali.page.get_by_role("button", name="Video call Bita").click()
    ringing = bita.page.get_by_role("dialog", name="Call with Ali")
    expect(ringing).to_contain_text("Incoming video call")
    assert wait_for(lambda: bita.page.evaluate("window.__tones")) == [440, 480]
    ringing.get_by_role("button", name="Decline").click()
    expect(call_screen(ali)).to_contain_text("Declined")
    expect(ali.page.get_by_role("log").locator(".call-record").last).to_contain_text(
        "Video call · Declined"
    )

    # Ali gives up while it rings: for Bita it is a missed call, in red in her chat list.
    expect(call_screen(ali)).to_have_count(0, timeout=10_000)
    ali.page.get_by_role("button", name="Call Bita", exact=True).click()
    expect(bita.page.get_by_role("dialog", name="Call with Ali")).to_be_visible()
    ali.page.get_by_role("button", name="Hang up").click()
    expect(call_screen(bita)).to_have_count(0, timeout=10_000)
    item = bita.page.get_by_role("list", name="Chats").get_by_role("listitem").first
    expect(item.locator(".chat-last.missed")).to_have_text("Voice call · Missed")
    expect(ali.page.get_by_role("log").locator(".call-record").last).to_have_text(
        re.compile("Voice call · No answer")
    )


def test_the_call_screen_in_persian(people: Any) -> None:
    ali, bita = two_in_a_chat(people, lang="fa")
    ali.page.get_by_role("button", name="Call بیتا", exact=True).click()
    ringing = bita.page.get_by_role("dialog", name="تماس با Ali")
    expect(ringing).to_contain_text("تماس ورودی")
    expect(bita.page.locator("html")).to_have_attribute("dir", "rtl")
    bita.screenshot("call-incoming-fa")
    copy_to_docs("call-incoming-fa", "call-incoming-fa.png")
    ringing.get_by_role("button", name="پاسخ").click()
    expect(call_screen(bita)).to_have_attribute("data-phase", "connected", timeout=30_000)
    # The timer is written in Persian digits.
    expect(call_screen(bita).locator(".call-timer")).to_have_text(re.compile("^[۰-۹]+:[۰-۹]{2}$"))
    bita.screenshot("call-connected-fa")
    bita.page.get_by_role("button", name="قطع تماس").click()
    expect(call_screen(ali)).to_have_count(0, timeout=10_000)


def _fake_subscription() -> dict[str, Any]:
    """What a push service would hand out: an endpoint and real-looking keys."""
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    raw = key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    b64 = lambda b: base64.urlsafe_b64encode(b).decode().rstrip("=")  # noqa: E731
    return {
        "endpoint": "http://127.0.0.1:9/push/fake-device",
        "keys": {"p256dh": b64(raw), "auth": b64(b"0123456789abcdef")},
    }


# Chromium offline has no push service to subscribe with: the page's subscribe() is replaced
# by one that records the key it was given and returns a fixed subscription.
FAKE_SUBSCRIBE = """
PushManager.prototype.subscribe = async function (options) {
  const key = new Uint8Array(options.applicationServerKey);
  window.__pushKey = btoa(String.fromCharCode(...key)).replace(/\\+/g, '-').replace(/\\//g, '_')
    .replace(/=+$/, '');
  const sub = SUBSCRIPTION;
  return {endpoint: sub.endpoint, toJSON: () => sub, unsubscribe: async () => true};
};
PushManager.prototype.getSubscription = async function () { return null; };
"""

NOTIFICATIONS = """async () => {
    const reg = await navigator.serviceWorker.ready;
    const all = await reg.getNotifications();
    return all.map((n) => ({title: n.title, body: n.body, tag: n.tag, data: n.data}));
}"""


def test_a_push_to_the_service_worker_shows_a_notification_that_opens_the_chat(
    people: Any, server: Server
) -> None:
    ali, bita = two_in_a_chat(people)
    subscription = _fake_subscription()
    bita.context.add_init_script(FAKE_SUBSCRIBE.replace("SUBSCRIPTION", json.dumps(subscription)))
    bita.context.grant_permissions(["notifications"], origin=server.url)

    # The worker is served at the root, as JavaScript, under the page's CSP.
    response = bita.context.request.get(server.url + "/sw.js")
    assert response.status == 200
    assert "javascript" in response.headers["content-type"]
    assert response.headers["cache-control"] == "no-cache"

    bita.open("/settings")
    with bita.page.expect_response(
        lambda r: r.url.endswith("/v1/push/subscriptions") and r.request.method == "POST"
    ) as posted:
        bita.page.get_by_role("checkbox", name="Show notifications while payam is closed").click()
    assert posted.value.status == 201
    expect(
        bita.page.get_by_role("checkbox", name="Show notifications while payam is closed")
    ).to_be_checked()
    assert json.loads(posted.value.request.post_data or "{}") == subscription
    vapid = bita.context.request.get(server.url + "/v1/push/vapid-key").json()["key"]
    assert bita.page.evaluate("window.__pushKey") == vapid.rstrip("=")

    # Make sure the page's worker is active (it is registered at start).
    bita.page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    cdp = bita.context.new_cdp_session(bita.page)
    registrations: list[dict[str, Any]] = []
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda event: registrations.extend(event["registrations"]),
    )
    cdp.send("ServiceWorker.enable")

    def registration() -> dict[str, Any] | None:
        cdp.send("Runtime.evaluate", {"expression": "1"})  # lets the events in
        return next((r for r in registrations if r["scopeURL"] == server.url + "/"), None)

    found = wait_for(registration)
    assert found, registrations

    def deliver(data: dict[str, Any]) -> None:
        cdp.send(
            "ServiceWorker.deliverPushMessage",
            {
                "origin": server.url,
                "registrationId": found["registrationId"],
                "data": json.dumps(data),
            },
        )

    def notification(tag: str) -> dict[str, Any] | None:
        shown = bita.page.evaluate(NOTIFICATIONS)
        return next((n for n in shown if n["tag"] == tag), None)

    # A message comes while Bita looks elsewhere; the push says only that something came.
    send(ali, "the secret plan")
    chat_id = int(ali.page.url.rsplit("/", 1)[1])
    deliver({"type": "message", "unread": 2})
    shown = wait_for(lambda: notification("payam-message"))
    assert shown is not None
    assert shown["title"] == "New message"
    assert "secret" not in shown["body"] and "Ali" not in shown["body"]
    assert shown["body"] == "2 unread messages"
    assert shown["data"]["url"] == f"/chats/{chat_id}"

    # With the choice made, the worker fetches the sender and the text itself.
    bita.page.get_by_role("checkbox", name="Show the sender and the text in notifications").check()
    bita.page.evaluate(NOTIFICATIONS)  # the settings page wrote the choice
    deliver({"type": "message", "unread": 2})
    assert wait_for(
        lambda: (n := notification("payam-message")) is not None and n["title"] == "Ali"
    ), bita.page.evaluate(NOTIFICATIONS)
    assert notification("payam-message")["body"] == "the secret plan"  # type: ignore[index]

    # An incoming call.
    deliver({"type": "call", "call_id": "c1"})
    assert wait_for(lambda: notification("payam-call-c1")), bita.page.evaluate(NOTIFICATIONS)
    assert notification("payam-call-c1")["title"] == "Incoming call"  # type: ignore[index]

    # A click on the message's notification opens its chat in the open tab.
    worker = wait_for(lambda: next(iter(bita.context.service_workers), None))
    assert worker is not None
    worker.evaluate(
        """async () => {
            const [n] = await self.registration.getNotifications({tag: 'payam-message'});
            self.dispatchEvent(new NotificationEvent('notificationclick', {notification: n}));
        }"""
    )
    expect(bita.page.get_by_role("log", name="Messages")).to_be_visible()
    assert bita.page.url.endswith(f"/chats/{chat_id}")
    expect(message(bita, "the secret plan")).to_be_visible()
