// What views call. Each action talks to the API or the socket and hands the answer to the
// store; views never fetch.
import { api } from "../api/http";
import { Socket } from "../api/socket";
import type { Chat, ClientFrame, Message } from "../api/types";
import { callFrame, isCallFrame } from "../calls";
import { startPush, stopPush } from "../push/client";
import { type Pending, needsOlderForUnread, sendFrameOf, store } from "./store";

const PAGE = 50;
const UNREAD_PAGES = 3;
const TYPING_EVERY_MS = 3000;
const FAR_AHEAD = 2 ** 53 - 1;

let socket: Socket | null = null;
const lastTyping = new Map<number, number>();

export function newClientId(): string {
  return crypto.randomUUID();
}

/** Where a fresh tab starts: who is signed in (the cookie says), the cursor, then the chats. */
export async function boot(): Promise<void> {
  try {
    // Who (the cookie says) and the cursor at once; a 401 means the sign-in form.
    const [me, cursor] = await Promise.all([api.me(), api.updates(FAR_AHEAD, 1)]);
    await start(me, cursor.last_seq);
  } catch {
    store.reset("signedOut");
  }
}

async function start(me: Awaited<ReturnType<typeof api.me>>, cursor?: number): Promise<void> {
  // The cursor first, then the chats: updates in between are replayed on resume and applied
  // idempotently, so nothing falls between the snapshot and the stream.
  const last_seq = cursor ?? (await api.updates(FAR_AHEAD, 1)).last_seq;
  const chats = await api.chats();
  const pending = store.allPending(); // a fresh start keeps what is still to be sent
  store.signedIn(me, last_seq, chats);
  for (const p of pending) store.addPending(p);
  for (const chat of chats) void learnNames(chat);
  connect();
  void startPush();
}

function connect(): void {
  socket?.stop();
  socket = new Socket({
    cursor: () => store.state.cursor,
    frame: (frame) => {
      if (isCallFrame(frame)) {
        callFrame(frame); // the call code, loaded on the first call frame
        return;
      }
      store.frame(frame);
      if (frame.type === "synced") resendPending();
      // resume_required: the server closes next and the reconnect resumes from the cursor.
      // resync_required: the log no longer reaches back to the cursor: start again from a
      // fresh snapshot (cursor, then chats), as a new tab would.
      if (frame.type === "resync_required" && store.state.me) void start(store.state.me);
      void fetchMissingChats();
    },
    status: (online) => store.setOnline(online),
    signedOut: () => {
      socket?.stop();
      socket = null;
      store.reset("signedOut");
    },
  });
  socket.start();
}

/** A frame for the socket (the call code signals through it); false while offline. */
export function sendFrame(frame: ClientFrame): boolean {
  return socket?.send(frame) ?? false;
}

async function fetchMissingChats(): Promise<void> {
  for (const id of store.state.missingChats) {
    try {
      const chat = await api.chat(id);
      store.upsertChat(chat);
      void learnNames(chat);
    } catch {
      // gone again or not ours: nothing to show
    }
  }
}

async function learnNames(chat: Chat): Promise<void> {
  const ids = new Set<number>();
  if (chat.peer_id) ids.add(chat.peer_id);
  for (const m of chat.members ?? []) ids.add(m.user_id);
  if (chat.last_message?.sender_id) ids.add(chat.last_message.sender_id);
  for (const id of ids) await learnName(id);
}

export async function learnName(userId: number): Promise<void> {
  if (store.state.names[userId] !== undefined) return;
  store.state.names[userId] = "";
  try {
    const profile = await api.user(userId);
    if (profile.name) store.setName(userId, profile.name);
  } catch {
    // a profile the caller may not see stays nameless
  }
}

export async function requestCode(phone: string) {
  return api.requestCode(phone);
}

export async function signIn(phone: string, code: string, name?: string): Promise<boolean> {
  const device = { model: navigator.userAgent.slice(0, 60), os: navigator.platform || "web", app_version: "payam-web" };
  const session = await api.signIn({ phone, code, name: name || null, device });
  await start(session.user);
  return session.created_account;
}

export async function signOut(): Promise<void> {
  socket?.stop();
  socket = null;
  try {
    await stopPush().catch(() => undefined);
    await api.signOut();
  } finally {
    forgetContacts();
    store.reset("signedOut");
  }
}

export async function openChat(chatId: number): Promise<void> {
  const e = store.state.chats[chatId];
  if (!e) {
    try {
      store.upsertChat(await api.chat(chatId));
    } catch {
      return;
    }
  } else if (!e.chat.members) {
    void api.chat(chatId).then((chat) => store.upsertChat(chat)).catch(() => undefined);
  }
  if (store.state.chats[chatId]?.loaded) return;
  const readSeq = store.state.chats[chatId]?.chat.read_seq ?? 0;
  const unread = store.state.chats[chatId]?.chat.unread_count ?? 0;
  const { messages } = await api.history(chatId, undefined, PAGE);
  store.history(chatId, messages, { latest: true, limit: PAGE });
  for (const m of messages) if (m.sender_id) void learnName(m.sender_id);
  // Reach back to the first unread message (a few pages at most: the view's window is 200).
  for (let i = 0; unread > 0 && i < UNREAD_PAGES; i++) {
    const e = store.state.chats[chatId];
    if (!e || !needsOlderForUnread(e, readSeq)) break;
    await loadOlder(chatId).catch(() => undefined);
  }
}

export async function loadOlder(chatId: number): Promise<void> {
  const e = store.state.chats[chatId];
  if (!e || !e.hasOlder || e.messages.length === 0) return;
  const { messages } = await api.history(chatId, e.messages[0].seq, PAGE);
  store.history(chatId, messages, { latest: false, limit: PAGE });
}

export function send(chatId: number, text: string, replyTo?: number): void {
  const clientId = newClientId();
  // The others stop showing "typing" when the message arrives: the next keystroke says it again.
  lastTyping.delete(chatId);
  const p: Pending = { client_id: clientId, chat_id: chatId, text, reply_to: replyTo, status: "sending", created_at: new Date().toISOString() };
  store.addPending(p);
  push(p);
}

/** Forward a message to another chat (``forward_of``): shown at once with the original's
 * text, sent over the socket like any message and resent after a reconnect. */
export function forward(m: Message, toChatId: number): void {
  const p: Pending = {
    client_id: newClientId(),
    chat_id: toChatId,
    text: m.text ?? "",
    forward_of: m.id,
    status: "sending",
    created_at: new Date().toISOString(),
  };
  store.addPending(p);
  push(p);
}

/** Send a file: shown at once (an image with its preview), uploaded with progress, then sent
 * with its media id; a reconnect resends it like any other pending message. */
export async function sendFile(chatId: number, file: File, text = "", replyTo?: number): Promise<void> {
  const clientId = newClientId();
  const preview = file.type.startsWith("image/") ? URL.createObjectURL(file) : undefined;
  const pending: Pending = {
    client_id: clientId,
    chat_id: chatId,
    text,
    reply_to: replyTo,
    status: "uploading",
    created_at: new Date().toISOString(),
    file: { name: file.name, type: file.type, size: file.size, preview, progress: 0 },
  };
  store.addPending(pending);
  try {
    const media = await api.upload(file, (progress) =>
      store.updatePending(clientId, { file: { ...pending.file!, progress } }),
    );
    const file_ = { ...pending.file!, progress: 1, media_id: media.id };
    store.updatePending(clientId, { status: "sending", file: file_ });
    push({ ...pending, status: "sending", file: file_ });
  } catch {
    store.setPendingStatus(clientId, "failed");
  }
}

function push(p: Pending): void {
  const sent = socket?.send(sendFrameOf(p));
  if (!sent) store.setPendingStatus(p.client_id, "queued");
}

/** After a reconnect: every send not yet acknowledged goes again, with the same client_id. */
function resendPending(): void {
  for (const p of store.allPending()) {
    if (p.status === "failed" || p.status === "uploading") continue;
    push(p);
  }
}

export function retry(chatId: number, clientId: string): void {
  const p = store.state.chats[chatId]?.pending.find((x) => x.client_id === clientId);
  if (!p) return;
  if (p.file && !p.file.media_id) return; // the upload failed: pick the file again
  store.setPendingStatus(clientId, "sending");
  push(p);
}

export async function edit(m: Message, text: string): Promise<void> {
  store.message(await api.edit(m.chat_id, m.id, text));
}

export async function remove(m: Message, forEveryone: boolean): Promise<void> {
  await api.remove(m.chat_id, m.id, forEveryone);
}

export async function markRead(chatId: number): Promise<void> {
  const e = store.state.chats[chatId];
  if (!e) return;
  const newest = e.messages[e.messages.length - 1];
  if (!newest || newest.seq <= e.chat.read_seq) return;
  store.markedRead(chatId, newest.seq);
  await api.markRead(chatId, newest.seq).catch(() => undefined);
}

export function typing(chatId: number): void {
  const now = Date.now();
  if (now - (lastTyping.get(chatId) ?? 0) < TYPING_EVERY_MS) return;
  lastTyping.set(chatId, now);
  socket?.send({ type: "typing", chat_id: chatId });
}

export async function openDirect(userId: number): Promise<number> {
  const chat = await api.openDirect(userId);
  store.upsertChat(chat);
  void learnNames(chat);
  return chat.id;
}

// -- contacts -------------------------------------------------------------------------------
// The server keeps only keyed hashes of the numbers (P2.2) and replaces the whole address book
// on each upload, so the numbers a person typed are kept in this browser (numbers only, per
// user: no names), to upload the whole list again; they are removed at sign-out. Who is on
// payam is asked again each time the list is shown (numbers already sent cost no budget).

export interface Contact {
  phone: string;
  user_id?: number;
  name?: string;
}

function contactsKey(): string {
  return `payam.contacts.${store.state.me?.id ?? 0}`;
}

export function savedPhones(): string[] {
  try {
    const raw = localStorage.getItem(contactsKey());
    const list: unknown = raw ? JSON.parse(raw) : [];
    return Array.isArray(list) ? list.filter((p): p is string => typeof p === "string") : [];
  } catch {
    return [];
  }
}

function saveContacts(list: Contact[]): void {
  try {
    localStorage.setItem(contactsKey(), JSON.stringify(list.map((c) => c.phone)));
  } catch {
    // storage full or private mode: the list lasts for this page
  }
}

function forgetContacts(): void {
  try {
    localStorage.removeItem(contactsKey());
  } catch {
    // nothing kept
  }
}

/** Upload the whole address book (the API replaces it) and learn who is on payam. */
export async function setContacts(phones: string[]): Promise<{ contacts: Contact[]; invalid: string[] }> {
  const result = await api.setContacts(phones);
  const found = new Map(result.registered.map((r) => [r.phone, r]));
  const invalid = new Set(result.invalid);
  const contacts = phones
    .filter((p) => !invalid.has(p))
    .map((phone) => {
      const r = found.get(phone);
      const name = (r?.profile as { name?: string } | undefined)?.name;
      if (r && name) store.setName(r.user_id, name);
      return r ? { phone, user_id: r.user_id, name } : { phone };
    });
  saveContacts(contacts);
  return { contacts, invalid: [...invalid] };
}

export async function invite(phone: string): Promise<void> {
  await api.invite(phone);
}
