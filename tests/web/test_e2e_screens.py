"""End-to-end tests of the group, channel, statistics, settings, privacy and operator screens
(issue 10), in chromium against a real ``payam serve``: a group of three people, a channel
with a post read by a subscriber, its statistics for the admin, settings that switch theme and
language, the privacy centre's export and account deletion; axe-core on each screen in both
languages, screenshots in tests/web/screenshots/.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
from typing import Any

import pytest

from tests.web.conftest import Person

_handles = itertools.count(1)


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect  # noqa: PLC0415

    return playwright_expect(locator)


def api(person: Person, method: str, path: str, body: Any = None) -> Any:
    """Set a scene through the API in the person's own session (cookie and CSRF echo)."""
    csrf = next(c["value"] for c in person.context.cookies() if c["name"] == "payam_csrf")
    response = person.context.request.fetch(
        person.server.url + path,
        method=method,
        data=body,
        headers={"X-CSRF-Token": csrf},
    )
    assert response.ok, f"{method} {path}: {response.status} {response.text()}"
    return response.json() if response.status != 204 else None


def no_serious_axe(person: Person, screen: str) -> None:
    found = person.axe()
    assert found == [], f"{screen}: {found}"


def test_a_group_of_three_made_run_and_deleted_from_the_screens(people: Any, tmp_path: Any) -> None:
    ali, bita, cyrus = people("Ali"), people("Bita"), people("Cyrus")
    for person in (ali, bita, cyrus):
        person.sign_in_quickly()
    ids = {p.name: api(p, "GET", "/v1/me")["id"] for p in (ali, bita, cyrus)}
    # Bita holds Ali's number, so Ali may add her; Cyrus does not, so he is invited (P3.2).
    api(bita, "PUT", "/v1/contacts", {"phones": [ali.phone]})
    api(ali, "PUT", "/v1/contacts", {"phones": [bita.phone, cyrus.phone]})
    for other in ("Bita", "Cyrus"):
        api(ali, "POST", "/v1/chats", {"type": "direct", "user_id": ids[other]})

    ali.open("/groups/new")
    page = ali.page
    page.get_by_label("Group name").fill("Trip to Yazd")
    page.get_by_label("Bita").check()
    page.get_by_label("Cyrus").check()
    no_serious_axe(ali, "new group")
    page.get_by_role("button", name="Create group").click()
    page.wait_for_url(re.compile(r"/chats/\d+$"))
    group_id = int(page.url.rsplit("/", 1)[1])

    # Cyrus sees an invitation and declines it; later he joins by a link instead.
    cyrus.open("/groups/new")
    invitation = cyrus.page.get_by_role("listitem").filter(has_text="Trip to Yazd")
    expect(invitation).to_contain_text("Ali invited you")
    invitation.get_by_role("button", name="Decline").click()
    expect(cyrus.page.get_by_text("No pending invitations.")).to_be_visible()

    page.get_by_role("link", name="Details").click()
    page.wait_for_url(f"**/chats/{group_id}/info")
    expect(page.get_by_role("heading", name="Members (2)")).to_be_visible()
    # The owner sets the group photo; the details show it as the group's avatar.
    from PIL import Image  # noqa: PLC0415

    picture = tmp_path / "yazd.png"
    Image.new("RGB", (64, 64), (200, 160, 60)).save(picture)
    page.get_by_label("Group photo").set_input_files(str(picture))
    photo = page.locator(".photo-row img.avatar")
    expect(photo).to_have_attribute("src", re.compile(r"photo"))
    assert api(ali, "GET", f"/v1/chats/{group_id}")["photo_url"]
    page.get_by_label("Role of Bita").select_option("admin")
    expect(page.get_by_role("listitem").filter(has_text="Bita")).to_contain_text("admin")
    page.get_by_role("button", name="Create invite link").click()
    link = page.get_by_role("textbox", name="Invite link").first
    expect(link).to_have_value(re.compile(r"/join/[\w-]+$"))
    token = link.input_value().rsplit("/", 1)[1]
    no_serious_axe(ali, "group details")
    ali.screenshot("group-info-en")

    cyrus.open(f"/join/{token}")
    cyrus.page.get_by_role("button", name="Join").click()
    cyrus.page.wait_for_url(f"**/chats/{group_id}")
    page.reload()
    expect(page.get_by_role("heading", name="Members (3)")).to_be_visible()

    # Revoked, the link admits nobody.
    page.get_by_role("button", name="Revoke").first.click()
    expect(page.get_by_role("textbox", name="Invite link")).to_have_count(0)
    page.get_by_role("button", name="Remove Cyrus").click()
    expect(page.get_by_role("heading", name="Members (2)")).to_be_visible()

    bita.open(f"/chats/{group_id}/info")
    bita.page.get_by_role("button", name="Leave group").click()
    bita.page.wait_for_url(bita.server.url + "/")
    page.reload()
    expect(page.get_by_role("heading", name="Members (1)")).to_be_visible()
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Delete group for everyone").click()
    page.wait_for_url(ali.server.url + "/")
    chats = api(ali, "GET", "/v1/chats")
    assert group_id not in [c["id"] for c in chats]


def test_a_channel_post_read_by_a_subscriber_and_its_statistics_for_the_admin(people: Any) -> None:
    owner, reader = people("Owner"), people("Reader")
    owner.sign_in_quickly()
    reader.sign_in_quickly()
    handle = f"news{os.getpid() % 1000}x{next(_handles)}"

    owner.open("/channels")
    page = owner.page
    page.get_by_label("Channel name").fill("Payam news")
    page.get_by_label("Handle", exact=True).fill(handle)
    page.get_by_role("button", name="Create channel").click()
    page.wait_for_url(re.compile(r"/channels/\d+$"))
    chat_id = int(page.url.rsplit("/", 1)[1])
    page.get_by_label("New post").fill("First post: hello readers")
    page.get_by_role("button", name="Post", exact=True).click()
    expect(page.get_by_role("list", name="Posts")).to_contain_text("First post: hello readers")

    # The reader finds it by handle and reads it without subscribing; the view is counted.
    reader.open("/channels")
    reader.page.get_by_label("Find a channel (@handle or title)").fill("@" + handle)
    reader.page.get_by_role("button", name="Search").click()
    reader.page.wait_for_url(f"**/channels/{chat_id}")
    posts = reader.page.get_by_role("list", name="Posts")
    expect(posts).to_contain_text("First post: hello readers")
    expect(posts.get_by_text(re.compile(r"^[12] views$"))).to_be_visible()
    expect(posts.get_by_text("0 forwards", exact=True)).to_be_visible()
    assert api(reader, "GET", f"/v1/channels/{handle}")["subscribed"] is False
    no_serious_axe(reader, "channel")
    reader.screenshot("channel-en")
    reader.page.get_by_role("button", name="Subscribe").click()
    expect(reader.page.get_by_role("button", name="Leave channel")).to_be_visible()
    expect(reader.page.get_by_text("2 subscribers")).to_be_visible()

    # A subscriber is no admin: the statistics page says so, as the API does.
    reader.open(f"/chats/{chat_id}/stats")
    expect(reader.page.get_by_role("alert")).to_contain_text("Only the channel's owner and admins")

    owner.open(f"/chats/{chat_id}/stats")
    expect(page.get_by_role("heading", name="Channel statistics")).to_be_visible()
    stats = api(owner, "GET", f"/v1/chats/{chat_id}/stats?days=30")
    figures = page.locator("dl.figures")
    expect(figures).to_contain_text(f"Subscribers{stats['subscribers']['count']}")
    table = page.get_by_role("table", name="Posts in the period")
    # Today's post is not in the closed days yet: the table holds exactly the API's posts.
    expect(table.get_by_role("row")).to_have_count(1 + len(stats["posts"]))
    # Figures about fewer than min_group people are hidden, as the API hides them.
    expect(page.get_by_text("Hidden: too few people to show.").first).to_be_visible()
    no_serious_axe(owner, "stats")
    owner.screenshot("stats-en")
    owner.open(f"/chats/{chat_id}/stats?lang=fa")
    expect(page.get_by_role("heading", name="آمار کانال")).to_be_visible()
    no_serious_axe(owner, "stats fa")
    owner.screenshot("stats-fa")


def test_settings_switch_theme_and_language_and_keep_profile_choices(
    people: Any, tmp_path: Any
) -> None:
    from PIL import Image  # noqa: PLC0415

    sara = people("Sara")
    sara.sign_in_quickly()
    sara.open("/settings")
    page = sara.page
    # A profile photo: uploaded from Settings, shown as her avatar there.
    picture = tmp_path / "me.png"
    Image.new("RGB", (64, 64), (30, 120, 200)).save(picture)
    page.get_by_label("Profile photo").set_input_files(str(picture))
    expect(page.locator(".photo-row img.avatar")).to_have_attribute("src", re.compile(r"photo"))
    assert api(sara, "GET", "/v1/me")["has_photo"] is True
    page.get_by_label("Name").fill("Sara K")
    page.get_by_label("Status").fill("At work")
    page.get_by_role("button", name="Save").click()
    page.get_by_label("Who can add me to groups").select_option("everyone")
    page.get_by_label("Default disappearing timer for new chats").select_option("86400")
    expect(page.get_by_role("table").get_by_role("cell", name="This device")).to_be_visible()
    page.wait_for_timeout(300)
    me = api(sara, "GET", "/v1/me")
    assert (me["name"], me["status"], me["group_adds"], me["default_message_ttl"]) == (
        "Sara K",
        "At work",
        "everyone",
        86400,
    )
    page.get_by_label("Dark").check()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    no_serious_axe(sara, "settings dark")
    sara.screenshot("settings-more-en")
    page.get_by_label("Language", exact=True).select_option("fa")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.get_by_role("heading", name="دستگاه‌های واردشده")).to_be_visible()
    no_serious_axe(sara, "settings fa")
    sara.screenshot("settings-more-fa")


@pytest.mark.parametrize("lang", ["en", "fa"])
def test_privacy_and_operator_screens_pass_axe(people: Any, lang: str) -> None:
    nika = people("Nika")
    nika.sign_in_quickly()
    for path in ("/privacy", "/admin", "/channels", "/groups/new"):
        nika.open(f"{path}?lang={lang}")
        nika.page.locator("main h1").wait_for()
        nika.page.wait_for_timeout(200)
        no_serious_axe(nika, f"{path} {lang}")
        nika.screenshot(f"{path.strip('/').replace('/', '-')}-{lang}")


def test_privacy_centre_downloads_the_export_and_deletion_signs_out_with_a_receipt(
    people: Any, tmp_path: Any
) -> None:
    dara = people("Dara")
    dara.sign_in_quickly()
    dara.open("/privacy")
    page = dara.page
    expect(page.get_by_role("heading", name="Cookies and consents")).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("button", name="Download my data (zip)").click()
    saved = tmp_path / "export.zip"
    download.value.save_as(saved)
    assert saved.read_bytes()[:2] == b"PK"
    expect(page.get_by_role("status")).to_contain_text("Downloaded")

    page.get_by_role("button", name="Delete account").click()
    page.get_by_role("button", name="Send code").click()
    code = page.get_by_label("Code", exact=True)
    code.wait_for()
    code.fill(dara.server.code_for(dara.phone))
    page.get_by_role("button", name="Delete my account for good").click()
    expect(page.get_by_role("heading", name="Your account is deleted")).to_be_visible()
    expect(page.get_by_label("Deletion receipt")).to_contain_text("receipt_id")
    with page.expect_download() as receipt:
        page.get_by_role("button", name="Download the receipt").click()
    assert receipt.value.suggested_filename.startswith("payam-receipt-")
    dara.screenshot("privacy-deleted-en")
    page.reload()
    expect(page.get_by_role("button", name="Send code")).to_be_visible()


def test_an_operator_looks_up_suspends_restores_and_works_the_reports_queue(people: Any) -> None:
    oper, mona, rey = people("Oper"), people("Mona"), people("Rey")
    for person in (oper, mona, rey):
        person.sign_in_quickly()
    granted = subprocess.run(
        [
            sys.executable,
            "-m",
            "payam",
            "admin",
            "grant",
            oper.phone,
            "--data-dir",
            str(oper.server.data_dir),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert granted.returncode == 0, granted.stdout + granted.stderr
    rey_id = api(rey, "GET", "/v1/me")["id"]
    chat = api(mona, "POST", "/v1/chats", {"type": "direct", "user_id": rey_id})
    sent = api(
        mona,
        "POST",
        f"/v1/chats/{chat['id']}/messages",
        {"client_id": "c1", "text": "buy my pills"},
    )
    api(rey, "POST", f"/v1/chats/{chat['id']}/messages/{sent['id']}/report", {"reason": "spam"})

    oper.open("/admin")
    page = oper.page
    queue = page.get_by_role("listitem").filter(has_text="buy my pills")
    expect(queue).to_contain_text("spam")
    page.get_by_label("User id or phone number").fill(mona.phone)
    page.get_by_role("button", name="Look up").click()
    expect(page.get_by_role("heading", name="Mona")).to_be_visible()
    # The look-up is in the audit trail (P11.1), newest first, with Mona's user id.
    mona_id = api(mona, "GET", "/v1/me")["id"]
    trail = page.get_by_role("table", name="Audit trail")
    looked = trail.get_by_role("row").filter(has_text="Look-up")
    expect(looked).to_have_count(1)
    expect(looked.get_by_role("cell").nth(2)).to_have_text(str(mona_id))
    expect(trail.get_by_role("row").nth(1)).to_contain_text("Look-up")
    no_serious_axe(oper, "operator console")
    oper.screenshot("admin-user-en")
    page.get_by_role("button", name="Suspend").click()
    expect(page.get_by_role("button", name="Restore")).to_be_visible()
    assert mona.context.request.get(mona.server.url + "/v1/me").status in (401, 403)
    page.get_by_role("button", name="Restore").click()
    expect(page.get_by_role("button", name="Suspend")).to_be_visible()
    queue.get_by_role("button", name="Resolve").click()
    expect(page.get_by_role("listitem").filter(has_text="buy my pills")).to_have_count(0)
    page.get_by_label("Status").select_option("resolved")
    expect(page.get_by_role("listitem").filter(has_text="buy my pills")).to_be_visible()
