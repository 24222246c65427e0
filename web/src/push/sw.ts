// The service worker, served at /sw.js (scope /). A push carries no content (P8.1, docs/push.md):
// {"type": "message", "unread": N} or {"type": "call", "call_id"}. It shows "New message" or
// "Incoming call"; if the person chose to see the sender and the text, it fetches them itself
// from the server with its session (GET /v1/chats). A click opens the chat.
//
// The page writes the person's choice and the strings in their language to the Cache API
// (PREFS below), which both the page and this worker can read.
export {};
declare const self: ServiceWorkerGlobalScope;

const PREFS_CACHE = "payam-push";
const PREFS_URL = "/__payam/push-prefs";

interface Prefs {
  showContent: boolean;
  strings: { newMessage: string; unread: string; incomingCall: string; openToAnswer: string };
  dir: "ltr" | "rtl";
  lang: string;
}

const DEFAULT_PREFS: Prefs = {
  showContent: false,
  strings: {
    newMessage: "New message",
    unread: "{count} unread messages",
    incomingCall: "Incoming call",
    openToAnswer: "Open payam",
  },
  dir: "ltr",
  lang: "en",
};

interface ChatSummary {
  id: number;
  type: string;
  title: string | null;
  peer_id?: number;
  muted?: boolean;
  unread_count?: number;
  last_message?: { sender_id?: number | null; text: string | null; call?: unknown } | null;
}

async function prefs(): Promise<Prefs> {
  try {
    const hit = await (await caches.open(PREFS_CACHE)).match(PREFS_URL);
    return hit ? { ...DEFAULT_PREFS, ...((await hit.json()) as Partial<Prefs>) } : DEFAULT_PREFS;
  } catch {
    return DEFAULT_PREFS;
  }
}

async function getJson<T>(path: string): Promise<T | null> {
  try {
    const r = await fetch(path, { credentials: "same-origin", headers: { Accept: "application/json" } });
    return r.ok ? ((await r.json()) as T) : null;
  } catch {
    return null;
  }
}

/** The chat the newest unread message is in (the server lists chats by last activity). */
async function newestUnread(): Promise<ChatSummary | null> {
  const chats = await getJson<ChatSummary[]>("/v1/chats?limit=50");
  return chats?.find((c) => (c.unread_count ?? 0) > 0 && !c.muted) ?? null;
}

async function senderName(chat: ChatSummary): Promise<string> {
  if (chat.type !== "direct" && chat.title) return chat.title;
  const id = chat.last_message?.sender_id ?? chat.peer_id;
  if (!id) return chat.title ?? "";
  const profile = await getJson<{ name?: string }>(`/v1/users/${id}`);
  return profile?.name ?? chat.title ?? "";
}

async function showMessage(unread: number): Promise<void> {
  const p = await prefs();
  const chat = await newestUnread();
  let title = p.strings.newMessage;
  let body = unread > 0 ? p.strings.unread.replace("{count}", new Intl.NumberFormat(p.lang).format(unread)) : "";
  if (p.showContent && chat?.last_message?.text) {
    title = (await senderName(chat)) || title;
    body = chat.last_message.text;
  }
  await self.registration.showNotification(title, {
    body,
    tag: "payam-message",
    lang: p.lang,
    dir: p.dir,
    icon: "/favicon.svg",
    data: { url: chat ? `/chats/${chat.id}` : "/" },
  });
}

async function showCall(callId: string): Promise<void> {
  const p = await prefs();
  await self.registration.showNotification(p.strings.incomingCall, {
    body: p.strings.openToAnswer,
    tag: `payam-call-${callId}`,
    lang: p.lang,
    dir: p.dir,
    icon: "/favicon.svg",
    requireInteraction: true,
    data: { url: "/", call_id: callId },
  });
}

self.addEventListener("install", () => void self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("push", (event) => {
  let data: { type?: string; unread?: number; call_id?: string } = {};
  try {
    data = (event.data?.json() ?? {}) as typeof data;
  } catch {
    // not ours or garbled: still say something came (a push must show a notification)
  }
  const work = data.type === "call" && data.call_id ? showCall(data.call_id) : showMessage(data.unread ?? 0);
  event.waitUntil(work);
});

/** Open the chat: in a tab of the app if one is open (it navigates itself), else a new one. */
async function open(url: string): Promise<void> {
  const tabs = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  const tab = tabs.find((c) => new URL(c.url).origin === self.location.origin);
  if (tab) {
    tab.postMessage({ type: "payam.open", url });
    await tab.focus().catch(() => undefined);
    return;
  }
  await self.clients.openWindow(url);
}

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = (event.notification.data as { url?: string } | null)?.url ?? "/";
  const work = open(url.startsWith("/") ? url : "/");
  try {
    event.waitUntil(work);
  } catch {
    // a synthetic event (tests) cannot be extended; the work goes on
  }
});
