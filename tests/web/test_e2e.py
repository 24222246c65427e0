"""The web client in a real browser (Debian's chromium) against a real ``payam serve``: two
people sign in, add each other and chat both ways live; message text stays text; Persian is
right-to-left with Jalali dates; axe-core finds nothing serious; the client comes back after the
server restarts with no message lost or doubled; nothing leaves for another origin."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.web.conftest import Person, Server, copy_to_docs

pytestmark = pytest.mark.system

XSS = "<img src=x onerror=alert(1)>"


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect  # noqa: PLC0415

    return playwright_expect(locator)


def add_contact_and_open_chat(person: Person, other: Person) -> None:
    page = person.page
    page.get_by_role("link", name="Contacts").click()
    page.get_by_label("Phone number").fill(other.phone)
    page.get_by_role("button", name="Add contact").click()
    entry = page.get_by_role("listitem").filter(has_text=other.name)
    entry.get_by_role("button", name="Message").click()
    expect(page.get_by_role("log", name="Messages")).to_be_visible()


def send(person: Person, text: str) -> None:
    box = person.page.get_by_role("textbox", name="Message")
    box.fill(text)
    box.press("Enter")


def message(person: Person, text: str) -> Any:
    """The bubble whose own text (not a quote of it) contains ``text``."""
    own_text = person.page.locator(".text").filter(has_text=text)
    return person.page.get_by_role("log").locator(".msg").filter(has=own_text)


def act_on(person: Person, text: str, action: str) -> None:
    bubble = message(person, text)
    bubble.get_by_role("button", name="Message actions").click()
    bubble.get_by_role("button", name=action, exact=True).click()


def assert_served_only_by(person: Person, server: Server) -> None:
    foreign = [
        u
        for u in person.requests
        if not u.startswith((server.url, server.url.replace("http", "ws"), "data:", "blob:"))
    ]
    assert foreign == [], f"requests to another origin: {foreign}"
    violations = [c for c in person.console if "Content Security Policy" in c]
    assert violations == [], violations


def test_two_people_add_each_other_and_chat_both_ways_live(people: Any, server: Server) -> None:
    ali, bita = people("Ali"), people("Bita")
    for person in (ali, bita):
        person.open("/")
        person.screenshot("signin-en")
        person.sign_in_by_form()

    add_contact_and_open_chat(ali, bita)
    send(ali, "Hello Bita, see https://example.org/page")
    expect(message(ali, "Hello Bita")).to_contain_text("Sent")

    # Bita's chat list shows the chat live, its title first, with an unread badge.
    chats = bita.page.get_by_role("list", name="Chats")
    item = chats.get_by_role("listitem", name=re.compile(r"^Ali\b"))
    expect(item).to_contain_text("Hello Bita")
    expect(item.locator(".badge")).to_have_text("1")
    item.get_by_role("link").click()
    expect(message(bita, "Hello Bita")).to_be_visible()
    link = message(bita, "Hello Bita").get_by_role("link", name="https://example.org/page")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    expect(link).to_have_attribute("target", "_blank")
    # Ali sees the read receipt once Bita has the chat open.
    expect(message(ali, "Hello Bita")).to_contain_text("Read")

    # Bita replies to the message; Ali sees the reply, with the quote, live.
    act_on(bita, "Hello Bita", "Reply")
    send(bita, "Hi Ali!")
    reply = message(ali, "Hi Ali!")
    expect(reply.locator(".quote")).to_contain_text("Hello Bita")
    ali.screenshot("conversation-en")

    # Ali forwards Bita's reply: the picker names each chat; the copy reads "Forwarded" on
    # both sides, with who wrote it first where the name is known.
    act_on(ali, "Hi Ali!", "Forward")
    picker = ali.page.get_by_role("dialog", name="Forward to…")
    picker.get_by_role("button", name="Bita", exact=True).click()
    expect(picker).to_have_count(0)
    expect(message(ali, "Hi Ali!").filter(has_text="Forwarded from Bita")).to_have_count(1)
    expect(message(bita, "Hi Ali!").filter(has_text="Forwarded")).to_have_count(1)

    # Typing reaches the other side.
    bita.page.get_by_role("textbox", name="Message").press_sequentially("abc")
    expect(ali.page.get_by_text("Bita is typing…")).to_be_visible()
    bita.page.get_by_role("textbox", name="Message").fill("")

    # Ali edits his message; Bita sees the new text, marked edited.
    act_on(ali, "Hello Bita", "Edit")
    box = ali.page.get_by_role("textbox", name="Message")
    box.fill("Hello Bita (edited text)")
    box.press("Enter")
    expect(message(bita, "(edited text)")).to_contain_text("edited")

    # Ali deletes it for everyone; on Bita's side only the notice remains.
    act_on(ali, "(edited text)", "Delete for everyone")
    expect(message(bita, "(edited text)")).to_have_count(0)
    expect(bita.page.get_by_role("log", name="Messages")).to_contain_text(
        "This message was deleted."
    )
    copy_to_docs("conversation-en", "conversation-en.png")

    for person in (ali, bita):
        assert_served_only_by(person, server)
        # The session is an HttpOnly cookie: no script can read it, nothing is in storage.
        assert "payam_session" not in person.page.evaluate("document.cookie")
        stored = person.page.evaluate("JSON.stringify(Object.entries(localStorage))")
        session = next(c for c in person.context.cookies() if c["name"] == "payam_session")
        assert session["httpOnly"] is True
        assert session["value"] not in stored


def test_message_text_is_shown_as_text_never_run(people: Any) -> None:
    ali, bita = people("Ali"), people("Bita")
    bita.sign_in_quickly()
    ali.sign_in_quickly()
    dialogs: list[str] = []
    for person in (ali, bita):
        person.page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    add_contact_and_open_chat(ali, bita)
    send(ali, XSS)
    bita.page.get_by_role("list", name="Chats").get_by_role("link").first.click()
    shown = message(bita, "onerror")
    expect(shown.locator(".text")).to_have_text(XSS)
    assert bita.page.get_by_role("log", name="Messages").locator("img").count() == 0
    assert ali.page.get_by_role("log", name="Messages").locator("img").count() == 0
    assert dialogs == []


def test_persian_is_right_to_left_with_jalali_dates_and_persian_digits(people: Any) -> None:
    sara, reza = people("سارا", locale="fa-IR"), people("رضا")
    reza.sign_in_quickly()
    sara.open("/?lang=fa")
    page = sara.page
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.locator("html")).to_have_attribute("lang", "fa")
    sara.screenshot("signin-fa")
    sara.sign_in_by_form(lang="fa")
    page.get_by_role("link", name="مخاطبان").click()
    page.get_by_label("شمارهٔ تلفن").fill(reza.phone)
    page.get_by_role("button", name="افزودن مخاطب").click()
    page.get_by_role("button", name="پیام دادن").click()
    box = page.get_by_role("textbox", name="پیام")
    box.fill("سلام رضا! 12 ساعت دیگر می‌بینمت")
    box.press("Enter")
    log = page.get_by_role("log", name="پیام‌ها")
    # Reza (English interface) answers in Persian: mixed text reads right in both.
    reza.page.get_by_role("list", name="Chats").get_by_role("link").first.click()
    send(reza, "سلام سارا! see you at 18:30 ✔")
    expect(log).to_contain_text("see you at 18:30")
    # The day separator: today's date in the Jalali calendar (a Persian month, year 14xx).
    separator = log.get_by_role("separator")
    expect(separator).to_contain_text("امروز")
    expect(separator).to_contain_text(re.compile("۱۴[۰-۹]{2}"))
    months = "فروردین|اردیبهشت|خرداد|تیر|مرداد|شهریور|مهر|آبان|آذر|دی|بهمن|اسفند"
    expect(separator).to_contain_text(re.compile(months))
    # Times are written in Persian digits; user text keeps its own direction.
    expect(log.locator("time").first).to_have_text(re.compile("^[۰-۹]{2}:[۰-۹]{2}$"))
    expect(log.locator(".text").first).to_have_attribute("dir", "auto")
    sara.screenshot("conversation-fa")
    page.get_by_role("link", name="گفتگوها").click()
    sara.screenshot("chats-fa")
    copy_to_docs("conversation-fa", "conversation-fa.png")
    copy_to_docs("chats-fa", "chats-fa.png")
    # ?lang= lasts for the page: remembering needs the optional preferences category (P6.2).
    sara.open("/?lang=en")
    expect(page.locator("html")).to_have_attribute("dir", "ltr")
    sara.open("/")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")  # the browser's language
    assert not [c for c in sara.context.cookies() if c["name"] == "payam_prefs"]
    sara.open("/settings?lang=en")
    page.get_by_label("Remember my language and theme in this browser").check()
    page.get_by_label("Dark").check()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    sara.open("/")
    expect(page.locator("html")).to_have_attribute("dir", "ltr")  # remembered: English
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    # The browser keeps nothing of the choices elsewhere (only the contacts' numbers, P2.2).
    stored = page.evaluate("Object.entries(localStorage)")
    assert [key for key, _ in stored if not key.startswith("payam.contacts.")] == []
    assert [value for _, value in stored] == [f'["{reza.phone}"]']


@pytest.mark.parametrize("lang", ["en", "fa"])
def test_axe_finds_no_serious_violation_on_any_screen(people: Any, lang: str) -> None:
    ali, bita = people("Ali"), people("Bita", color_scheme="dark" if lang == "fa" else "light")
    ali.sign_in_quickly()
    bita.open(f"/?lang={lang}")
    screens: dict[str, list[Any]] = {"signin": bita.axe()}
    bita.sign_in_quickly()
    ali.open("/contacts")
    ali.page.get_by_role("textbox").first.fill(bita.phone)
    ali.page.locator("form button[type=submit]").click()
    ali.page.locator(".contact-list button").first.click()
    send(ali, "Salam! سلام")
    bita.page.get_by_role("list").first.get_by_role("link").first.wait_for()
    screens["chats"] = bita.axe()
    bita.screenshot(f"chats-{lang}-axe")
    bita.page.get_by_role("list").first.get_by_role("link").first.click()
    bita.page.get_by_role("log").locator(".msg").first.wait_for()
    bita.page.get_by_role("log").locator(".actions button").first.click()
    screens["conversation"] = bita.axe()
    bita.open("/contacts")
    bita.page.get_by_role("textbox").first.fill(ali.phone)
    bita.page.locator("form button[type=submit]").click()
    bita.page.locator(".contact-list li").first.wait_for()
    screens["contacts"] = bita.axe()
    bita.screenshot(f"contacts-{lang}")
    bita.open("/settings")
    screens["settings"] = bita.axe()
    bita.screenshot(f"settings-{lang}")
    bad = {screen: found for screen, found in screens.items() if found}
    assert bad == {}, bad


def test_after_a_server_restart_nothing_is_lost_or_doubled(people: Any, server: Server) -> None:
    ali, bita = people("Ali"), people("Bita")
    bita.sign_in_quickly()
    ali.sign_in_quickly()
    add_contact_and_open_chat(ali, bita)
    send(ali, "before the restart")
    bita.page.get_by_role("list", name="Chats").get_by_role("link").first.click()
    expect(message(bita, "before the restart")).to_be_visible()

    server.stop()
    expect(ali.page.get_by_role("status")).to_have_text("Offline. Reconnecting…")
    send(ali, "sent while offline")  # queued, shown at once
    expect(message(ali, "sent while offline")).to_contain_text("Sending")
    server.start()

    # Ali's socket resumes and sends the queued message once; both see each message once.
    expect(message(bita, "sent while offline")).to_have_count(1, timeout=30_000)
    send(bita, "after the restart")
    expect(message(ali, "after the restart")).to_have_count(1, timeout=30_000)
    for person in (ali, bita):
        for text in ("before the restart", "sent while offline", "after the restart"):
            expect(message(person, text)).to_have_count(1)
    expect(ali.page.get_by_role("status")).to_be_hidden()


def test_history_scrolls_back_by_seq_in_a_window_of_at_most_200(
    people: Any, server: Server
) -> None:
    ali, bita = people("Ali"), people("Bita")
    ali.sign_in_quickly()
    bita.sign_in_quickly()
    add_contact_and_open_chat(ali, bita)
    chat_id = int(ali.page.url.rsplit("/", 1)[1])
    total = 260
    headers = {"X-CSRF-Token": ali.context_csrf()}
    for i in range(total):
        response = ali.context.request.post(
            f"{server.url}/v1/chats/{chat_id}/messages",
            data={"client_id": f"h{i}", "text": f"history {i:03d}"},
            headers=headers,
        )
        assert response.status == 201, response.text()
    # Bita has read it all (a chat with unread messages opens at the first unread instead).
    last_seq = response.json()["seq"]
    read = bita.context.request.post(
        f"{server.url}/v1/chats/{chat_id}/read",
        data={"seq": last_seq},
        headers={"X-CSRF-Token": bita.context_csrf()},
    )
    assert read.status == 200, read.text()
    bita.page.reload()
    bita.page.get_by_role("list", name="Chats").get_by_role("link").first.click()
    log = bita.page.get_by_role("log", name="Messages")
    expect(message(bita, f"history {total - 1:03d}")).to_be_visible()
    expect(log.locator(".msg")).to_have_count(50)  # the latest page only
    expect(log).not_to_contain_text("This is the beginning of the chat.")
    # Scroll to the top again and again: older pages come in by seq, the window stays bounded.
    for _ in range(30):
        log.evaluate("el => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')); }")
        bita.page.wait_for_timeout(150)
        count = log.locator(".msg").count()
        assert count <= 200, count
        if log.get_by_text("This is the beginning of the chat.").count():
            break
    expect(log).to_contain_text("This is the beginning of the chat.")
    seqs = [int(s) for s in log.locator(".msg").evaluate_all("els => els.map(e => e.dataset.seq)")]
    assert seqs == sorted(set(seqs)), "shown once each, in seq order"
    expect(message(bita, "history 000")).to_be_visible()
    expect(message(bita, f"history {total - 1:03d}")).to_have_count(0)  # left the window
    # Back down: the newest return.
    for _ in range(30):
        log.evaluate(
            "el => { el.scrollTop = el.scrollHeight; el.dispatchEvent(new Event('scroll')); }"
        )
        bita.page.wait_for_timeout(150)
        if message(bita, f"history {total - 1:03d}").count():
            break
    expect(message(bita, f"history {total - 1:03d}")).to_be_visible()
    assert log.locator(".msg").count() <= 200


def test_a_chat_opens_at_its_first_unread_message(people: Any, server: Server) -> None:
    ali, bita = people("Ali"), people("Bita")
    ali.sign_in_quickly()
    bita.sign_in_quickly()
    add_contact_and_open_chat(ali, bita)
    chat_id = int(ali.page.url.rsplit("/", 1)[1])
    seqs = []
    for i in range(80):
        response = ali.context.request.post(
            f"{server.url}/v1/chats/{chat_id}/messages",
            data={"client_id": f"u{i}", "text": f"unread test {i:03d}"},
            headers={"X-CSRF-Token": ali.context_csrf()},
        )
        assert response.status == 201, response.text()
        seqs.append(response.json()["seq"])
    # Bita read the first 20; 60 are unread, more than the first page of 50.
    read = bita.context.request.post(
        f"{server.url}/v1/chats/{chat_id}/read",
        data={"seq": seqs[19]},
        headers={"X-CSRF-Token": bita.context_csrf()},
    )
    assert read.status == 200, read.text()
    bita.page.reload()
    bita.page.get_by_role("list", name="Chats").get_by_role("link").first.click()
    page = bita.page
    expect(page.get_by_role("separator", name="Unread messages")).to_be_in_viewport()
    expect(message(bita, "unread test 020")).to_be_in_viewport()
    expect(message(bita, "unread test 079")).not_to_be_in_viewport()
    jump = page.get_by_role("button", name="Jump to latest")
    jump.click()
    expect(message(bita, "unread test 079")).to_be_in_viewport()
    expect(jump).to_have_count(0)
    # Read once at the bottom: Ali sees the receipt.
    expect(message(ali, "unread test 079")).to_contain_text("Read")


def test_filter_and_sign_out(people: Any) -> None:
    ali, bita, cyrus = people("Ali"), people("Bita"), people("Cyrus")
    bita.sign_in_quickly()
    cyrus.sign_in_quickly()
    ali.sign_in_quickly()
    add_contact_and_open_chat(ali, bita)
    send(ali, "to Bita")
    add_contact_and_open_chat(ali, cyrus)
    send(ali, "to Cyrus")
    ali.page.get_by_role("link", name="Chats").click()
    chats = ali.page.get_by_role("list", name="Chats")
    expect(chats.get_by_role("listitem")).to_have_count(2)
    # Newest activity first.
    expect(chats.get_by_role("listitem").first).to_have_attribute(
        "aria-label", re.compile("^Cyrus")
    )
    ali.screenshot("chats-en")
    copy_to_docs("chats-en", "chats-en.png")
    ali.page.get_by_label("Filter chats").fill("bit")
    expect(chats.get_by_role("listitem")).to_have_count(1)
    expect(chats.get_by_role("listitem").first).to_have_attribute("aria-label", re.compile("^Bita"))

    ali.page.get_by_role("button", name="Sign out").click()
    expect(ali.page.get_by_label("Phone number")).to_be_visible()
    ali.open("/")  # the cookie is gone: still signed out after a reload
    expect(ali.page.get_by_label("Phone number")).to_be_visible()
    assert not [c for c in ali.context.cookies() if c["name"] == "payam_session"]
    assert ali.page.evaluate("Object.keys(localStorage).filter(k => k.includes('contacts'))") == []


def test_an_image_is_uploaded_with_progress_and_arrives_as_a_thumbnail(
    people: Any, tmp_path: Any
) -> None:
    from PIL import Image  # noqa: PLC0415

    picture = tmp_path / "sunset.png"
    Image.new("RGB", (640, 480), (200, 120, 40)).save(picture)
    ali, bita = people("Ali"), people("Bita")
    bita.sign_in_quickly()
    ali.sign_in_quickly()
    add_contact_and_open_chat(ali, bita)
    ali.page.locator("#attach").set_input_files(str(picture))
    sent = ali.page.get_by_role("log", name="Messages").locator(".msg:not(.pending) img")
    expect(sent).to_have_attribute("src", re.compile(r"^/v1/media/\d+/thumbnail$"))
    bita.page.get_by_role("list", name="Chats").get_by_role("link").first.click()
    received = bita.page.get_by_role("log", name="Messages").get_by_role("img", name="Image")
    expect(received).to_have_attribute("src", re.compile(r"^/v1/media/\d+/thumbnail$"))
    # The thumbnail is really served to Bita (the cookie authenticates the image request).
    expect(received).to_have_js_property("complete", True)
    assert received.evaluate("img => img.naturalWidth") > 0
    expect(bita.page.get_by_role("list", name="Chats")).to_contain_text("Photo")
