import { beforeEach, describe, expect, it } from "vitest";
import type { Chat, Message, User } from "../api/types";
import { Store, firstUnread, forwardTargets, mergeMessages, needsOlderForUnread, sendFrameOf } from "./store";

const ME: User = {
  id: 1, phone: "+989120000001", name: "Me", status: null, has_photo: false, photo_url: null, created_at: null, updated_at: null,
};

function chat(id: number, extra: Partial<Chat> = {}): Chat {
  return { id, type: "direct", title: null, photo_url: null, last_seq: 0, read_seq: 0, peer_id: 2, unread_count: 0, ...extra };
}

function msg(id: number, seq: number, extra: Partial<Message> = {}): Message {
  return { id, chat_id: 10, seq, sender_id: 2, text: `m${id}`, deleted: false, created_at: "2026-12-03T10:00:00Z", ...extra };
}

let store: Store;
beforeEach(() => {
  store = new Store();
  store.signedIn(ME, 5, [chat(10)]);
});

describe("the seq stream", () => {
  it("applies each update once: a replay after a reconnect adds no duplicate", () => {
    const update = { type: "update" as const, seq: 6, kind: "message_new", chat_id: 10, message: msg(100, 1) };
    store.frame(update);
    store.frame(update); // replayed after a resume
    expect(store.state.chats[10].messages.map((m) => m.id)).toEqual([100]);
    expect(store.state.chats[10].chat.unread_count).toBe(1);
    expect(store.state.cursor).toBe(6);
  });

  it("ignores what the cursor already covers", () => {
    store.frame({ type: "update", seq: 5, kind: "message_new", chat_id: 10, message: msg(100, 1) });
    expect(store.state.chats[10].messages).toEqual([]);
    expect(store.state.cursor).toBe(5);
  });

  it("asks for a chat it does not know yet instead of dropping its update", () => {
    store.frame({ type: "update", seq: 6, kind: "chat_new", chat_id: 11 });
    expect(store.state.missingChats).toEqual([11]);
    store.upsertChat(chat(11));
    expect(store.state.missingChats).toEqual([]);
  });

  it("applies edits and deletions for everyone in place", () => {
    store.frame({ type: "update", seq: 6, kind: "message_new", chat_id: 10, message: msg(100, 1) });
    store.frame({ type: "update", seq: 7, kind: "message_edited", chat_id: 10, message: msg(100, 1, { text: "fixed", edited: true }) });
    expect(store.state.chats[10].messages[0].text).toBe("fixed");
    store.frame({ type: "update", seq: 8, kind: "message_deleted", chat_id: 10, message: msg(100, 1, { text: null, deleted: true }) });
    expect(store.state.chats[10].messages[0]).toMatchObject({ deleted: true, text: null });
  });

  it("a message hidden for me leaves the list", () => {
    store.frame({ type: "update", seq: 6, kind: "message_new", chat_id: 10, message: msg(100, 1) });
    store.frame({ type: "update", seq: 7, kind: "message_hidden", chat_id: 10, message_id: 100 });
    expect(store.state.chats[10].messages).toEqual([]);
  });

  it("read receipts: the peer's marker moves peerRead, mine clears the unread count", () => {
    store.frame({ type: "update", seq: 6, kind: "message_new", chat_id: 10, message: msg(100, 1) });
    store.frame({ type: "update", seq: 7, kind: "read", chat_id: 10, user_id: 2, read_seq: 3 });
    expect(store.state.chats[10].peerRead).toBe(3);
    store.frame({ type: "update", seq: 8, kind: "read", chat_id: 10, user_id: 1, read_seq: 1 });
    expect(store.state.chats[10].chat.unread_count).toBe(0);
  });

  it("a removed chat leaves the list", () => {
    store.frame({ type: "update", seq: 6, kind: "chat_removed", chat_id: 10 });
    expect(store.state.chats[10]).toBeUndefined();
  });
});

describe("optimistic sends", () => {
  const pending = { client_id: "c-1", chat_id: 10, text: "hi", status: "sending" as const, created_at: "2026-12-03T10:00:00Z" };

  it("the ack replaces the pending message: shown once", () => {
    store.addPending(pending);
    expect(store.state.chats[10].pending).toHaveLength(1);
    store.frame({ type: "ack", client_id: "c-1", created: true, message: msg(100, 1, { sender_id: 1, client_id: "c-1", text: "hi" }) });
    expect(store.state.chats[10].pending).toEqual([]);
    expect(store.state.chats[10].messages.map((m) => m.text)).toEqual(["hi"]);
  });

  it("the update may come before the ack; the ack after it changes nothing", () => {
    store.addPending(pending);
    const stored = msg(100, 1, { sender_id: 1, client_id: "c-1", text: "hi" });
    store.frame({ type: "update", seq: 6, kind: "message_new", chat_id: 10, message: stored });
    store.frame({ type: "ack", client_id: "c-1", created: false, message: stored });
    expect(store.state.chats[10].pending).toEqual([]);
    expect(store.state.chats[10].messages).toHaveLength(1);
    expect(store.state.chats[10].chat.unread_count).toBe(0); // my own message is not unread
  });

  it("a refused send is marked failed, to retry", () => {
    store.addPending(pending);
    store.frame({ type: "error", client_id: "c-1", error: { code: "too_long", message: "" } });
    expect(store.state.chats[10].pending[0].status).toBe("failed");
  });
});

describe("history", () => {
  it("merges pages by seq, one entry per id, and knows when the beginning is reached", () => {
    store.history(10, [msg(3, 3), msg(4, 4)], { latest: true, limit: 2 });
    expect(store.state.chats[10].hasOlder).toBe(true);
    store.history(10, [msg(1, 1)], { latest: false, limit: 2 });
    expect(store.state.chats[10].messages.map((m) => m.seq)).toEqual([1, 3, 4]);
    expect(store.state.chats[10].hasOlder).toBe(false);
  });

  it("mergeMessages keeps ascending seq and replaces by id", () => {
    const merged = mergeMessages([msg(2, 2), msg(1, 1)], [msg(2, 2, { text: "new" }), msg(0, 0)]);
    expect(merged.map((m) => [m.id, m.text])).toEqual([[0, "m0"], [1, "m1"], [2, "new"]]);
  });
});

describe("forward", () => {
  it("sends only forward_of (the server copies the text) and a plain send its text and reply", () => {
    const base = { client_id: "c1", chat_id: 11, status: "sending" as const, created_at: "2026-12-03T10:00:00Z" };
    expect(sendFrameOf({ ...base, text: "hello", forward_of: 7 })).toEqual({
      type: "send", chat_id: 11, client_id: "c1", forward_of: 7,
    });
    expect(sendFrameOf({ ...base, text: "hi", reply_to: 3 })).toEqual({
      type: "send", chat_id: 11, client_id: "c1", text: "hi", reply_to: 3,
    });
  });

  it("shows a forward at once and replaces it by the stored message carrying its client_id", () => {
    store.addPending({ client_id: "f1", chat_id: 10, text: "m7", forward_of: 7, status: "sending", created_at: "2026-12-03T10:00:00Z" });
    expect(store.state.chats[10].pending.map((p) => p.forward_of)).toEqual([7]);
    store.frame({ type: "ack", client_id: "f1", created: true, message: msg(20, 6, { sender_id: 1, client_id: "f1", forward_of: 7 }) });
    expect(store.state.chats[10].pending).toEqual([]);
    expect(store.state.chats[10].messages.map((m) => m.forward_of)).toEqual([7]);
  });

  it("offers every chat but a channel the user does not run", () => {
    const chats = [
      chat(10),
      chat(11, { type: "group" }),
      chat(12, { type: "channel", members: [{ user_id: 1, role: "member", read_seq: 0 }] }),
      chat(13, { type: "channel", members: [{ user_id: 1, role: "admin", read_seq: 0 }] }),
      chat(14, { type: "channel" }),
    ].map((c) => ({ chat: c, messages: [], loaded: false, hasOlder: true, pending: [], typing: {}, peerRead: 0 }));
    expect(forwardTargets(chats, 1).map((e) => e.chat.id)).toEqual([10, 11, 13]);
  });
});

describe("first unread", () => {
  it("is the first message of someone else after read_seq, skipping mine and deleted ones", () => {
    const list = [msg(1, 1), msg(2, 2, { sender_id: 1 }), msg(3, 3, { deleted: true }), msg(4, 4), msg(5, 5)];
    expect(firstUnread(list, 1, 1)?.id).toBe(4);
    expect(firstUnread(list, 3, 1)?.id).toBe(4);
    expect(firstUnread(list, 5, 1)).toBeUndefined();
  });

  it("pages back only while the oldest loaded is past read_seq + 1 and there is more", () => {
    const entry = (first: number, hasOlder: boolean) =>
      ({ chat: chat(10), messages: [msg(first, first)], loaded: true, hasOlder, pending: [], typing: {}, peerRead: 0 });
    expect(needsOlderForUnread(entry(60, true), 10)).toBe(true);
    expect(needsOlderForUnread(entry(11, true), 10)).toBe(false);
    expect(needsOlderForUnread(entry(60, false), 10)).toBe(false);
  });
});
