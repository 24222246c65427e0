"""Channel statistics (P10.1): ``GET /v1/chats/{id}/stats``.

Owners and admins see how their posts perform without learning anything about a viewer: only
aggregates, only closed days, no cell of fewer than k people (pooled unnamed into "other",
with secondary suppression), and several days only as sums of what each day showed. Most
tests run with k=3 to keep the crowds small; one runs with the default k=10.
"""

from __future__ import annotations

import json
from typing import Any

from payam.domain.events import iso
from payam.storage import channel_stats as stats_store
from payam.storage import chats as chat_store
from payam.storage import messages as message_store
from tests.api.message_helpers import group_chat
from tests.api.test_views import (
    make_channel,
    person,
    post,
    start_of_next_day,
    views_of,
)
from tests.conftest import Account, Harness

K = 3


async def stats(harness: Harness, who: Account, chat_id: int, **params: Any) -> dict[str, Any]:
    response = await harness.http.get(
        f"/v1/chats/{chat_id}/stats", params=params, headers=who.headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def closed_days(report: dict[str, Any]) -> dict[str, Any]:
    """Everything in a report that comes from closed days, i.e. all but the public counters
    (the subscriber count and each post's views and forwards, which every reader of the
    channel sees anyway)."""
    closed = json.loads(json.dumps(report))
    del closed["subscribers"]["count"]
    for item in closed["posts"]:
        del item["views"], item["forwards"]
    return closed


def day_of(report: dict[str, Any], date: str) -> dict[str, Any]:
    found: dict[str, Any] = next(d for d in report["daily"] if d["day"] == date)
    return found


def every_shown_figure_is_k_or_more(cells: dict[str, Any], k: int) -> None:
    """The invariant of one breakdown as shown: a hidden group, or cells and a pooled other of
    at least k each (other may be 0), adding up to the total."""
    if cells["total"] is None:
        assert cells == {"total": None, "cells": None, "other": None}
        return
    assert all(n >= k for n in cells["cells"].values()), cells
    assert cells["other"] == 0 or cells["other"] >= k, cells
    assert sum(cells["cells"].values()) + cells["other"] == cells["total"], cells


def check_report(report: dict[str, Any], k: int) -> None:
    for day in report["daily"]:
        for cells in day["viewers"].values():
            every_shown_figure_is_k_or_more(cells, k)
        for name in ("by_country_code", "by_os"):
            if day["subscribers"][name] is not None:
                every_shown_figure_is_k_or_more(day["subscribers"][name], k)
        for n in (day["subscribers"]["joined"], day["subscribers"]["left"], day["reach"]):
            assert n is None or n == 0 or n >= k


# -- who may ask ---------------------------------------------------------------------------


async def test_only_the_owner_and_admins_see_statistics(harness: Harness) -> None:
    owner = await person(harness, name="Owner")
    admin = await person(harness, name="Admin")
    subscriber = await person(harness, name="Sub")
    outsider = await person(harness, name="Out")
    chat_id = await make_channel(harness, owner, admins=(admin,), subscribers=(subscriber,))
    for who in (owner, admin):
        assert (await stats(harness, who, chat_id))["chat_id"] == chat_id
    for who in (subscriber, outsider):
        response = await harness.http.get(f"/v1/chats/{chat_id}/stats", headers=who.headers)
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "not_admin"

    # A group (even to its owner) and a chat that does not exist: 404 alike.
    group = await group_chat(harness, owner, [subscriber])
    for missing in (group, 987_654, 2**64):
        response = await harness.http.get(f"/v1/chats/{missing}/stats", headers=owner.headers)
        assert response.status_code == 404, response.text
    response = await harness.http.get(f"/v1/chats/{group}/stats", headers=owner.headers)
    assert response.json()["error"]["code"] == "chat_not_found"
    response = await harness.http.get(f"/v1/chats/{chat_id}/stats")
    assert response.status_code == 401


async def test_days_is_1_to_90(harness: Harness) -> None:
    owner = await person(harness, name="Owner")
    chat_id = await make_channel(harness, owner)
    for bad in ("0", "91", "-3", "x", "1.5", str(2**64)):
        response = await harness.http.get(
            f"/v1/chats/{chat_id}/stats", params={"days": bad}, headers=owner.headers
        )
        assert response.status_code == 422, (bad, response.text)
    assert len((await stats(harness, owner, chat_id))["daily"]) == 30
    assert len((await stats(harness, owner, chat_id, days=90))["daily"]) == 90
    assert len((await stats(harness, owner, chat_id, days=1))["daily"]) == 1


# -- what is shown -----------------------------------------------------------------------------


async def test_a_closed_day_shows_reach_views_and_breakdowns_of_k_or_more(
    make_harness: Any,
) -> None:
    harness = await make_harness(stats_min_group=K)
    owner = await person(harness, name="Owner")
    iranians = [await person(harness, "98", "Android 14") for _ in range(4)]
    germans = [await person(harness, "49", "iOS 17") for _ in range(3)]
    american = await person(harness, "1", "Android 15")
    start_of_next_day(harness, hour=9)
    chat_id = await make_channel(harness, owner)
    first, second = await post(harness, chat_id, owner), await post(harness, chat_id, owner)
    for viewer in iranians:
        await views_of(harness, viewer, chat_id, [first, second])
    harness.clock.advance(3600)  # 10:00
    for viewer in [*germans, american]:
        await views_of(harness, viewer, chat_id, [first])
    today = day_of_date(harness)

    start_of_next_day(harness, hour=8)
    report = await stats(harness, owner, chat_id, days=2)
    assert report["to"] == today
    day = day_of(report, today)
    assert day["reach"] == 8
    assert day["views"] == 12
    assert day["viewers"]["by_country_code"] == {
        "total": 8,
        "cells": {"98": 4},
        # The lone +1 viewer is not named, and would be 8 - 4 - 3 = 1 if "49" stayed: so
        # "49" (the smallest shown cell) is pooled with it.
        "other": 4,
    }
    assert day["viewers"]["by_os"] == {"total": 8, "cells": {"Android": 5, "iOS": 3}, "other": 0}
    assert day["viewers"]["by_hour"] == {"total": 8, "cells": {"9": 4, "10": 4}, "other": 0}
    assert report["viewers"]["views"] == 12
    assert report["viewers"]["viewer_days"] == 8
    assert [p["views"] for p in report["posts"]] == [4, 8]  # newest first
    assert [p["id"] for p in report["posts"]] == [second, first]
    check_report(report, K)


def day_of_date(harness: Harness) -> str:
    stamp = iso(harness.clock.now())
    assert stamp is not None
    return stamp[:10]


async def test_a_day_with_fewer_than_k_viewers_shows_nothing_but_zero_shows_zero(
    harness: Harness,
) -> None:
    k = harness.settings.stats_min_group
    assert k == 10
    owner = await person(harness, name="Owner")
    viewers = [await person(harness) for _ in range(k - 1)]
    start_of_next_day(harness, hour=12)
    chat_id = await make_channel(harness, owner)
    post_id = await post(harness, chat_id, owner)
    quiet = day_of_date(harness)
    start_of_next_day(harness, hour=12)
    for viewer in viewers:
        await views_of(harness, viewer, chat_id, [post_id])
    busy = day_of_date(harness)

    start_of_next_day(harness, hour=1)
    report = await stats(harness, owner, chat_id, days=3)
    hidden = {"total": None, "cells": None, "other": None}
    assert day_of(report, busy)["reach"] is None
    assert day_of(report, busy)["views"] is None
    assert day_of(report, busy)["viewers"] == dict.fromkeys(
        ("by_country_code", "by_os", "by_hour"), hidden
    )
    assert day_of(report, quiet)["reach"] == 0
    assert day_of(report, quiet)["viewers"]["by_os"] == {"total": 0, "cells": {}, "other": 0}
    # The sums leave the hidden day out; the post's own counter is public and says 9.
    assert report["viewers"]["views"] == 0
    assert report["viewers"]["by_os"] == {"total": 0, "cells": {}, "other": 0}
    assert report["posts"][0]["views"] == k - 1
    check_report(report, k)


async def test_subscribers_by_country_and_os_are_a_snapshot_the_retention_job_takes(
    make_harness: Any,
) -> None:
    """The snapshot of a day is taken by the retention job after the day, as of its end, and
    never by a report: an admin cannot pick the moments two snapshots are taken to make their
    difference one person's subscription."""
    harness = await make_harness(stats_min_group=K)
    owner = await person(harness, "98", "Android 15", name="Owner")
    subscribers = (
        *[await person(harness, "98", "Android 14") for _ in range(3)],
        *[await person(harness, "49", "Windows 11") for _ in range(3)],
        await person(harness, "90", "Ubuntu"),
    )
    late = await person(harness, "49", "Windows 10")
    start_of_next_day(harness, hour=10)
    chat_id = await make_channel(harness, owner, subscribers=subscribers)
    async with harness.services.db.write() as conn:  # as the join route counts them
        await stats_store.count(
            conn, chat_id, harness.clock.now(), stats_store.JOINED, n=len(subscribers)
        )
    day = day_of_date(harness)

    start_of_next_day(harness, hour=0)
    # Someone joins after the day closed but before the job runs: not in that day's count.
    async with harness.services.db.write() as conn:
        await chat_store.add_members(
            conn, chat_id, [(late.user_id, "subscriber")], now=harness.clock.now(), start_seq=0
        )
    report = await stats(harness, owner, chat_id, days=1)
    assert report["subscribers"]["as_of"] is None  # a report takes no snapshot
    assert day_of(report, day)["subscribers"]["by_os"] is None

    harness.clock.advance(1800)
    assert (await harness.services.maintenance.prune())["subscriber_snapshots"] == 1
    assert (await harness.services.maintenance.prune())["subscriber_snapshots"] == 0  # once
    report = await stats(harness, owner, chat_id, days=1)
    assert report["subscribers"]["count"] == 9  # now, as the channel shows it to everyone
    assert report["subscribers"]["as_of"] == day
    assert report["subscribers"]["by_country_code"] == {
        "total": 8,
        "cells": {"98": 4},
        "other": 4,  # the Turkish subscriber, pooled with "49" so that other is not 1
    }
    # Linux alone would be an "other" of 1: Windows (the smallest shown) is pooled with it.
    assert report["subscribers"]["by_os"] == {"total": 8, "cells": {"Android": 4}, "other": 4}
    assert day_of(report, day)["subscribers"]["by_os"] == report["subscribers"]["by_os"]
    assert day_of(report, day)["subscribers"]["joined"] == 7
    assert day_of(report, day)["subscribers"]["left"] == 0

    # The next day's snapshot has the late subscriber; the closed day's figures do not move.
    start_of_next_day(harness, hour=1)
    await harness.services.maintenance.prune()
    again = await stats(harness, owner, chat_id, days=2)
    assert day_of(again, day) == day_of(report, day)
    assert again["subscribers"]["as_of"] > day
    assert again["subscribers"]["by_country_code"] == {
        "total": 9,
        "cells": {"98": 4},
        "other": 5,  # 1 from +90 would stand alone: +49 (4, tied with +98, first by name) joins it
    }
    check_report(report, K)
    check_report(again, K)


def sums_of_days(report: dict[str, Any], name: str) -> dict[str, Any]:
    """A viewer breakdown over the report's period, added up from its daily cells."""
    total = other = 0
    cells: dict[str, int] = {}
    for day in report["daily"]:
        shown = day["viewers"][name]
        if shown["total"] is None:
            continue
        total += shown["total"]
        other += shown["other"]
        for key, n in shown["cells"].items():
            cells[key] = cells.get(key, 0) + n
    return {"total": total, "cells": cells, "other": other}


async def test_period_figures_are_sums_of_the_published_days(make_harness: Any) -> None:
    harness = await make_harness(stats_min_group=K)
    owner = await person(harness, name="Owner")
    crowd = [await person(harness, cc, os) for cc, os in [("98", "Android 9")] * 4]
    crowd += [await person(harness, "49", "iOS 16") for _ in range(3)]
    loner = await person(harness, "90", "Windows 11")
    start_of_next_day(harness, hour=7)
    chat_id = await make_channel(harness, owner)
    first = await post(harness, chat_id, owner)
    for viewer in crowd:
        await views_of(harness, viewer, chat_id, [first])
    start_of_next_day(harness, hour=7)
    second = await post(harness, chat_id, owner)
    for viewer in [*crowd[:4], loner]:
        await views_of(harness, viewer, chat_id, [first, second])
    start_of_next_day(harness, hour=7)

    short = await stats(harness, owner, chat_id, days=1)
    long = await stats(harness, owner, chat_id, days=2)
    for report in (short, long):
        check_report(report, K)
        for name in ("by_country_code", "by_os", "by_hour"):
            assert report["viewers"][name] == sums_of_days(report, name)
        assert report["viewers"]["views"] == sum(d["views"] or 0 for d in report["daily"])
    assert long["daily"][-1] == short["daily"][0]
    # What the longer range adds is exactly the day it adds, as that day shows it: the lone
    # +90 viewer of the second day is pooled there, and stays pooled in every sum.
    for name in ("by_country_code", "by_os", "by_hour"):
        older = long["daily"][0]["viewers"][name]
        assert long["viewers"][name]["total"] == short["viewers"][name]["total"] + older["total"]
        assert long["viewers"][name]["other"] == short["viewers"][name]["other"] + older["other"]
    assert "90" not in json.dumps(long["viewers"]["by_country_code"]["cells"])
    assert "Windows" not in json.dumps(long)


async def test_an_admin_cannot_single_out_a_viewer_by_differencing_reports(
    make_harness: Any,
) -> None:
    """The target is the only viewer from +49, the only one on Windows, the only one at 15:00.
    An admin takes reports before and after the target views, the same day and after the day
    closes, and compares them with a second channel the same crowd views without the target:
    the difference is one viewer more, pooled with others, never the target's country, OS or
    hour."""
    harness = await make_harness(stats_min_group=K)
    admin = await person(harness, name="Admin")
    iranians = [await person(harness, "98", "Android 14") for _ in range(5)]
    turks = [await person(harness, "90", "iOS 17") for _ in range(4)]
    target = await person(harness, "49", "Windows 11", name="Target")
    start_of_next_day(harness, hour=8)
    watched = await make_channel(harness, admin, subscribers=(target,))
    control = await make_channel(harness, admin)
    watched_post, control_post = (
        await post(harness, watched, admin),
        await post(harness, control, admin),
    )
    harness.clock.advance(3600)  # 09:00: the crowd, on both channels
    for viewer in iranians:
        await views_of(harness, viewer, watched, [watched_post])
        await views_of(harness, viewer, control, [control_post])
    harness.clock.advance(3600)  # 10:00
    for viewer in turks:
        await views_of(harness, viewer, watched, [watched_post])
        await views_of(harness, viewer, control, [control_post])
    the_day = day_of_date(harness)

    harness.clock.advance(2 * 3600)  # 12:00: before
    before = await stats(harness, admin, watched, days=2)
    harness.clock.advance(3 * 3600)  # 15:00: the target views
    assert await views_of(harness, target, watched, [watched_post]) == {str(watched_post): 10}
    harness.clock.advance(3600)  # 16:00: after, the same day
    after = await stats(harness, admin, watched, days=2)
    # Today is not in any report: asking before and after isolates nothing.
    assert closed_days(after) == closed_days(before)
    assert all(d["day"] < the_day for d in after["daily"])

    start_of_next_day(harness, hour=9)  # the day has closed
    reports = {
        days: (
            await stats(harness, admin, watched, days=days),
            await stats(harness, admin, control, days=days),
        )
        for days in (1, 2, 7)
    }
    for with_target, without in reports.values():
        check_report(with_target, K)
        text = json.dumps(with_target)
        for secret in ('"49"', "Windows", '"15"', target.phone, target.phone[1:], "Target"):
            assert secret not in text, secret
        day, control_day = day_of(with_target, the_day), day_of(without, the_day)
        assert day["reach"] == control_day["reach"] + 1
        for name in ("by_country_code", "by_os", "by_hour"):
            for seen, unseen in (
                (day["viewers"][name], control_day["viewers"][name]),
                (with_target["viewers"][name], without["viewers"][name]),
            ):
                # Here the target only moves figures into "other": every cell shown with the
                # target is shown without, with the same value.
                assert seen["total"] == unseen["total"] + 1
                assert set(seen["cells"]) <= set(unseen["cells"])
                assert all(unseen["cells"][key] == n for key, n in seen["cells"].items())
    # And asked again later, the closed day says the same.
    harness.clock.advance(6 * 3600)
    again = await stats(harness, admin, watched, days=2)
    assert closed_days(again) == closed_days(reports[2][0])


async def test_the_report_holds_no_viewer_id_number_name_or_device(make_harness: Any) -> None:
    harness = await make_harness(stats_min_group=2)
    owner = await person(harness, name="Owner")
    viewers = [
        await person(harness, cc, os, name=f"Viewer {cc} {i}")
        for i, (cc, os) in enumerate(
            [("98", "Android 14"), ("98", "Android 15"), ("49", "iOS 17.1"), ("49", "iOS 16")]
        )
    ]
    start_of_next_day(harness, hour=11)
    chat_id = await make_channel(harness, owner, subscribers=tuple(viewers))
    post_id = await post(harness, chat_id, owner)
    for viewer in viewers:
        await views_of(harness, viewer, chat_id, [post_id])
    start_of_next_day(harness, hour=11)
    report = await stats(harness, owner, chat_id, days=2)
    assert report["daily"][-1]["reach"] == 4  # the report does describe them ...
    text = json.dumps(report)
    for viewer in viewers:  # ... without anything of them
        for secret in (viewer.phone, viewer.phone[1:], viewer.name, viewer.token):
            assert secret not in text, secret
    for raw in ("Android 14", "Android 15", "iOS 17.1", "iOS 16", "Phone"):
        assert raw not in text

    def keys(value: Any, path: str = "") -> set[str]:
        """Every key of the JSON, with the keys of cells (codes, OS families, hours) as *."""
        if isinstance(value, dict):
            found = set()
            for key, item in value.items():
                shown = "*" if path.endswith("cells") else key
                found |= {f"{path}.{shown}"} | keys(item, f"{path}.{shown}")
            return found
        if isinstance(value, list):
            return set().union(*(keys(item, f"{path}[]") for item in value))
        return set()

    names = {k.rsplit(".", 1)[-1] for k in keys(report)}
    assert names <= {
        *("chat_id", "from", "to", "days", "min_group", "subscribers", "viewers", "daily"),
        *("posts", "count", "joined", "left", "as_of", "by_country_code", "by_os", "by_hour"),
        *("total", "cells", "other", "*", "views", "viewer_days", "day", "reach", "id", "seq"),
        *("created_at", "forwards"),
    }, names
    assert {frozenset(p) for p in report["posts"]} == {
        frozenset({"id", "seq", "created_at", "views", "forwards"})
    }


async def test_the_channel_routes_feed_the_report_end_to_end(make_harness: Any) -> None:
    """Through the real doors: a channel created, joined and left over HTTP, posts sent and
    viewed; the next day's report shows the joins, hides the lone leave, counts the views."""
    harness = await make_harness(stats_min_group=K)
    owner = await person(harness, name="Owner")
    readers = [await person(harness, "98", "Android 14") for _ in range(4)]
    start_of_next_day(harness, hour=9)
    created = await harness.http.post(
        "/v1/chats",
        json={"type": "channel", "title": "Daily news", "handle": "daily_news_k3"},
        headers=owner.headers,
    )
    assert created.status_code == 201, created.text
    chat_id = created.json()["id"]
    for reader in readers:
        joined = await harness.http.post(f"/v1/chats/{chat_id}/join", headers=reader.headers)
        assert joined.status_code == 200, joined.text
    sent = await harness.http.post(
        f"/v1/chats/{chat_id}/messages",
        json={"client_id": "p1", "text": "first post"},
        headers=owner.headers,
    )
    assert sent.status_code == 201, sent.text
    post_id = sent.json()["id"]
    for reader in readers:
        await views_of(harness, reader, chat_id, [post_id])
    left = await harness.http.delete(f"/v1/chats/{chat_id}", headers=readers[0].headers)
    assert left.status_code == 204, left.text
    the_day = day_of_date(harness)

    start_of_next_day(harness, hour=2)
    await harness.services.maintenance.prune()
    report = await stats(harness, owner, chat_id, days=1)
    day = day_of(report, the_day)
    assert day["subscribers"]["joined"] == 5  # the owner and four readers
    assert day["subscribers"]["left"] is None  # one person: hidden
    assert day["reach"] == 4
    assert day["views"] == 4
    assert report["subscribers"]["count"] == 4
    assert report["subscribers"]["by_os"] == {"total": 4, "cells": {"Android": 4}, "other": 0}
    assert report["posts"] == [
        {
            "id": post_id,
            "seq": sent.json()["seq"],
            "created_at": sent.json()["created_at"],
            "views": 4,
            "forwards": 0,
        }
    ]
    check_report(report, K)
    response = await harness.http.get(f"/v1/chats/{chat_id}/stats", headers=readers[1].headers)
    assert response.status_code == 403


async def test_posts_listed_are_those_of_the_closed_days_of_the_period_not_deleted(
    harness: Harness,
) -> None:
    owner = await person(harness, name="Owner")
    start_of_next_day(harness, hour=10)
    chat_id = await make_channel(harness, owner)
    too_old = await post(harness, chat_id, owner)
    start_of_next_day(harness, hour=10)
    kept = [await post(harness, chat_id, owner) for _ in range(3)]
    deleted = await post(harness, chat_id, owner)
    async with harness.services.db.write() as conn:
        await message_store.tombstone(conn, [deleted], harness.clock.now())
    start_of_next_day(harness, hour=10)
    await post(harness, chat_id, owner)  # today's: not in any report yet

    report = await stats(harness, owner, chat_id, days=1)
    assert [p["id"] for p in report["posts"]] == kept[::-1]
    longer = await stats(harness, owner, chat_id, days=2)
    assert [p["id"] for p in longer["posts"]] == [*kept[::-1], too_old]


async def test_a_busy_period_lists_its_newest_thousand_posts(harness: Harness) -> None:
    owner = await person(harness, name="Owner")
    start_of_next_day(harness, hour=1)
    chat_id = await make_channel(harness, owner)
    old = await post(harness, chat_id, owner)
    start_of_next_day(harness, hour=1)
    now = harness.clock.now()
    async with harness.services.db.write() as conn:
        ids = await message_store.insert_many(
            conn,
            [
                {
                    "chat_id": chat_id,
                    "seq": seq,
                    "sender_id": owner.user_id,
                    "client_id": f"busy-{seq}",
                    "text": "post",
                    "created_at": now + seq,
                    "views": 0,
                    "forwards": 0,
                }
                for seq in range(2, 1202)
            ],
        )
        await chat_store.set_last_seqs(conn, {chat_id: 1201})
        await message_store.tombstone(conn, [ids[-1], ids[-600]], now)
    start_of_next_day(harness, hour=1)
    listed = [p["id"] for p in (await stats(harness, owner, chat_id, days=2))["posts"]]
    alive = [i for i in ids if i not in {ids[-1], ids[-600]}]
    assert listed == alive[::-1][:1000]
    assert old not in listed
