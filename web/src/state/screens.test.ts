import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Chat, User } from "../api/types";
import { parseRoute } from "./route";
import {
  eraseAccount,
  inviteUrl,
  leaveChat,
  percent,
  reportViews,
  resetScreens,
  screens,
  setChatPhoto,
  setMyPhoto,
  unreported,
  withViews,
} from "./screens";
import { store } from "./store";

const ME: User = {
  id: 1, phone: "+989120000001", name: "Me", status: null, has_photo: false, photo_url: null, created_at: null, updated_at: null,
};
const GROUP: Chat = { id: 7, type: "group", title: "G", photo_url: null, last_seq: 0, read_seq: 0 };

type Answer = { status: number; body?: unknown };
let calls: { method: string; url: string; body: unknown }[] = [];
let answers: Answer[] = [];

beforeEach(() => {
  calls = [];
  answers = [];
  vi.stubGlobal("document", { cookie: "payam_csrf=abc" });
  vi.stubGlobal("fetch", async (url: string, init: RequestInit) => {
    calls.push({ method: init.method ?? "GET", url, body: init.body ? JSON.parse(String(init.body)) : undefined });
    const a = answers.shift() ?? { status: 204 };
    return new Response(a.status === 204 ? null : JSON.stringify(a.body), { status: a.status });
  });
  resetScreens();
  store.signedIn(ME, 0, [GROUP]);
});
afterEach(() => vi.unstubAllGlobals());

describe("routes of the added screens", () => {
  it("reads the group, channel, stats, join, privacy and operator addresses", () => {
    expect(parseRoute("/chats/7/info")).toEqual({ name: "chatInfo", chatId: 7 });
    expect(parseRoute("/chats/7/stats")).toEqual({ name: "stats", chatId: 7 });
    expect(parseRoute("/chats/7")).toEqual({ name: "chats", chatId: 7 });
    expect(parseRoute("/join/a%2Fb")).toEqual({ name: "join", token: "a/b" });
    expect(parseRoute("/channels")).toEqual({ name: "channels" });
    expect(parseRoute("/channels/9")).toEqual({ name: "channel", chatId: 9 });
    expect(parseRoute("/groups/new")).toEqual({ name: "newGroup" });
    expect(parseRoute("/privacy")).toEqual({ name: "privacy" });
    expect(parseRoute("/admin")).toEqual({ name: "admin" });
  });
  it("shares an invite as /join/<token> on this origin", () => {
    expect(inviteUrl("x_y-z", "https://p.example")).toBe("https://p.example/join/x_y-z");
  });
});

describe("view counts", () => {
  it("reports each post of a channel once per page", () => {
    const seen = new Set<string>();
    expect(unreported(3, [1, 2], seen)).toEqual([1, 2]);
    expect(unreported(3, [2, 3], seen)).toEqual([3]);
    expect(unreported(4, [2], seen)).toEqual([2]);
  });
  it("takes the counts the server answers", async () => {
    answers = [{ status: 200, body: { views: { "11": 5 } } }];
    await reportViews(30, [11]);
    expect(calls[0]).toMatchObject({ method: "POST", url: "/v1/chats/30/views", body: { message_ids: [11] } });
    await reportViews(30, [11]);
    expect(calls).toHaveLength(1);
    expect(withViews([{ id: 11, chat_id: 30, seq: 1, text: "p", deleted: false, views: 1 }], { "11": 5 })[0].views).toBe(5);
  });
});

describe("groups", () => {
  it("leaving takes the chat off the list; deleting asks ?delete=true", async () => {
    expect(await leaveChat(7, true)).toBe(true);
    expect(calls[0]).toMatchObject({ method: "DELETE", url: "/v1/chats/7?delete=true" });
    expect(store.state.chats[7]).toBeUndefined();
  });
  it("a refusal keeps the chat and says its code", async () => {
    answers = [{ status: 403, body: { error: { code: "not_owner", message: "no" } } }];
    expect(await leaveChat(7, true)).toBe(false);
    expect(store.state.chats[7]).toBeDefined();
    expect(screens().error).toBe("not_owner");
  });
});

describe("privacy centre", () => {
  it("export progress is a share of the size when the size is known", () => {
    expect(percent(50, 200)).toBe(25);
    expect(percent(50, null)).toBeNull();
    expect(percent(300, 200)).toBe(100);
  });
  it("deleting the account signs out and keeps only the receipt", async () => {
    const receipt = { receipt_id: "r1", user_id: 1, erased_at: "2026-12-03T12:00:00Z", removed: { messages: 3 }, kept: {}, note: "gone" };
    answers = [{ status: 200, body: receipt }];
    await eraseAccount(" 123456 ");
    expect(calls[0]).toMatchObject({ method: "DELETE", url: "/v1/me", body: { code: "123456" } });
    expect(store.state.phase).toBe("signedOut");
    expect(screens().receipt).toEqual(receipt);
    expect(screens().channels).toEqual({});
  });
  it("signing out forgets what the screens loaded", async () => {
    answers = [{ status: 200, body: { views: { "1": 2 } } }];
    await reportViews(50, [1]);
    store.reset("signedOut");
    expect(screens().posts).toEqual({});
    expect(screens().receipt).toBeNull();
  });
});

describe("photos", () => {
  it("a new group photo is sent as the multipart field file and the answered chat is shown", async () => {
    const form: { url: string; file: unknown }[] = [];
    vi.stubGlobal("fetch", async (url: string, init: RequestInit) => {
      form.push({ url, file: (init.body as FormData).get("file") });
      return new Response(JSON.stringify({ ...GROUP, photo_url: "/v1/chats/7/photo?v=2" }), { status: 200 });
    });
    expect(await setChatPhoto(7, new Blob(["x"], { type: "image/png" }))).toBe(true);
    expect(form.map((f) => f.url)).toEqual(["/v1/chats/7/photo"]);
    expect(form[0].file).toBeInstanceOf(Blob);
    expect(store.state.chats[7].chat.photo_url).toBe("/v1/chats/7/photo?v=2");
  });

  it("a profile photo refused keeps the old one and the refusal's code", async () => {
    vi.stubGlobal("fetch", async () =>
      new Response(JSON.stringify({ error: { code: "image_too_large", message: "too big" } }), { status: 413 }));
    expect(await setMyPhoto(new Blob(["x"]))).toBe(false);
    expect(screens().error).toBe("image_too_large");
    expect(store.state.me?.photo_url).toBeNull();
  });

  it("a profile photo accepted shows on the signed-in user", async () => {
    vi.stubGlobal("fetch", async () =>
      new Response(JSON.stringify({ ...ME, has_photo: true, photo_url: "/v1/users/1/photo?v=1" }), { status: 200 }));
    expect(await setMyPhoto(new Blob(["x"]))).toBe(true);
    expect(store.state.me?.photo_url).toBe("/v1/users/1/photo?v=1");
    expect(screens().me?.photo_url).toBe("/v1/users/1/photo?v=1");
  });
});
