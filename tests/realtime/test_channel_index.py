"""The gateway's index of who hears a channel's frames (realtime/channels.py): filled from one
snapshot, kept true by the user's own updates in whatever order they come, emptied on close."""

from __future__ import annotations

from payam.domain import events
from payam.domain.events import Update
from payam.realtime.channels import ChannelIndex


def joined(seq: int, chat_id: int, chat_type: str = "channel") -> Update:
    return Update(1, seq, events.CHAT_NEW, chat_id, None, {"chat_type": chat_type}, 0.0)


def left(seq: int, chat_id: int) -> Update:
    return Update(1, seq, events.CHAT_REMOVED, chat_id, None, {"by": 1}, 0.0)


def test_the_snapshot_fills_the_index_and_closing_empties_it() -> None:
    index: ChannelIndex[str] = ChannelIndex()
    index.open("a")
    index.open("b")
    index.loaded("a", [10, 11], as_of=5)
    index.loaded("b", [10], as_of=7)
    assert index.listeners(10) == {"a", "b"}
    assert index.listeners(11) == {"a"}
    index.close("a")
    assert index.listeners(10) == {"b"}
    assert index.listeners(11) == set()
    index.close("b")
    assert index.channel_count == 0


def test_joining_and_leaving_a_channel_move_the_connection_in_and_out() -> None:
    index: ChannelIndex[str] = ChannelIndex()
    index.open("a")
    index.loaded("a", [], as_of=3)
    index.follow("a", joined(4, 10))
    index.follow("a", joined(5, 20, chat_type="group"))  # a group is not a channel
    index.follow("a", Update(1, 6, events.MESSAGE_NEW, 10, 1, None, 0.0))  # not membership
    assert index.listeners(10) == {"a"}
    assert index.listeners(20) == set()
    index.follow("a", left(7, 10))
    assert index.listeners(10) == set()


def test_updates_already_in_the_snapshot_change_nothing() -> None:
    index: ChannelIndex[str] = ChannelIndex()
    index.open("a")
    index.loaded("a", [10], as_of=9)
    index.follow("a", left(8, 10))  # left before, joined again before the snapshot
    assert index.listeners(10) == {"a"}


def test_changes_heard_while_the_snapshot_was_read_wait_for_it() -> None:
    index: ChannelIndex[str] = ChannelIndex()
    index.open("a")
    index.follow("a", joined(4, 10))
    index.follow("a", left(6, 11))
    # The snapshot saw the join (seq 4) but not the leave (seq 6).
    index.loaded("a", [10, 11], as_of=5)
    assert index.listeners(10) == {"a"}
    assert index.listeners(11) == set()


def test_an_older_update_replayed_after_a_newer_one_changes_nothing() -> None:
    index: ChannelIndex[str] = ChannelIndex()
    index.open("a")
    index.loaded("a", [], as_of=1)
    index.follow("a", joined(2, 10))
    index.follow("a", left(3, 10))
    index.follow("a", joined(2, 10))  # read from the log again (a gap being filled)
    assert index.listeners(10) == set()


def test_a_connection_closed_before_its_snapshot_is_not_indexed() -> None:
    index: ChannelIndex[str] = ChannelIndex()
    index.open("a")
    index.close("a")
    index.loaded("a", [10], as_of=1)
    index.follow("a", joined(2, 11))
    assert index.listeners(10) == set()
    assert index.listeners(11) == set()
