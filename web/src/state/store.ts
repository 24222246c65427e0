// The one place that mutates client state. Fed by HTTP answers and socket frames; views read
// it and subscribe. Chats are keyed by id, their messages by id and ordered by seq; the resume
// cursor is the last update seq applied; optimistic sends are keyed by client_id and vanish the
// moment the stored message (ack or update, whichever comes first) carries that client_id.
import type { Chat, ClientFrame, Message, ServerFrame, Update, User } from "../api/types";

export type Phase = "loading" | "signedOut" | "ready";
export type SendStatus = "uploading" | "sending" | "queued" | "failed";

export interface PendingFile {
  name: string;
  type: string;
  size: number;
  preview?: string; // a blob: URL of an image, shown while it uploads
  progress: number; // 0..1
  media_id?: number;
}

export interface Pending {
  client_id: string;
  chat_id: number;
  text: string;
  reply_to?: number;
  forward_of?: number; // a forward: the server copies the original's text and files
  status: SendStatus;
  created_at: string;
  file?: PendingFile;
}

export interface ChatEntry {
  chat: Chat;
  messages: Message[]; // ascending seq, unique id
  loaded: boolean; // the latest page was fetched
  hasOlder: boolean;
  pending: Pending[];
  typing: Record<number, number>; // user id -> until (ms)
  peerRead: number; // the highest read_seq of another member (read receipts)
}

export interface State {
  phase: Phase;
  me: User | null;
  chats: Record<number, ChatEntry>;
  cursor: number;
  online: boolean;
  names: Record<number, string>;
  missingChats: number[]; // chat ids an update named that the store does not know yet
}

export const TYPING_MS = 6000;

function fresh(): State {
  return { phase: "loading", me: null, chats: {}, cursor: 0, online: false, names: {}, missingChats: [] };
}

function entry(chat: Chat): ChatEntry {
  // The last message is known from the list: a chat opens showing it while its page loads.
  const messages = chat.last_message ? [chat.last_message] : [];
  return { chat, messages, loaded: false, hasOlder: true, pending: [], typing: {}, peerRead: 0 };
}

/** Insert or replace `incoming` in an ascending-seq list; a message id appears once. */
/** The socket frame that sends (or sends again) a pending message; a forward carries only
 * ``forward_of`` (the server copies the original's text and files). */
export function sendFrameOf(p: Pending): ClientFrame {
  if (p.forward_of) return { type: "send", chat_id: p.chat_id, client_id: p.client_id, forward_of: p.forward_of };
  const mediaIds = p.file?.media_id ? [p.file.media_id] : undefined;
  return {
    type: "send",
    chat_id: p.chat_id,
    client_id: p.client_id,
    ...(p.text ? { text: p.text } : {}),
    ...(p.reply_to ? { reply_to: p.reply_to } : {}),
    ...(mediaIds ? { media_ids: mediaIds } : {}),
  };
}

/** Where a message can be forwarded: every chat but a channel the user may not post in (a
 * channel counts only when its members list, if known, names the user owner or admin). */
export function forwardTargets(chats: ChatEntry[], me: number | undefined): ChatEntry[] {
  return chats.filter(({ chat }) => {
    if (chat.type !== "channel") return true;
    const role = chat.members?.find((m) => m.user_id === me)?.role;
    return role === "owner" || role === "admin";
  });
}

/** The first message someone else wrote after ``readSeq`` (where "Unread messages" goes when
 * a chat opens), or undefined when everything loaded is read. */
export function firstUnread(messages: Message[], readSeq: number, me: number | undefined): Message | undefined {
  return messages.find((m) => m.seq > readSeq && m.sender_id !== me && !m.deleted);
}

/** Whether opening a chat should page further back to reach its first unread message: the
 * oldest loaded is still past ``readSeq + 1`` and there is more. */
export function needsOlderForUnread(e: ChatEntry, readSeq: number): boolean {
  return e.hasOlder && e.messages.length > 0 && e.messages[0].seq > readSeq + 1;
}

export function mergeMessages(list: Message[], incoming: Message[]): Message[] {
  if (incoming.length === 0) return list;
  const byId = new Map<number, Message>();
  for (const m of list) byId.set(m.id, m);
  for (const m of incoming) byId.set(m.id, { ...byId.get(m.id), ...m });
  return [...byId.values()].sort((a, b) => a.seq - b.seq);
}

export class Store {
  state: State = fresh();
  private listeners = new Set<() => void>();
  version = 0;

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(): void {
    this.version++;
    this.state = { ...this.state };
    for (const listener of this.listeners) listener();
  }

  reset(phase: Phase = "signedOut"): void {
    this.state = { ...fresh(), phase };
    this.emit();
  }

  signedIn(me: User, cursor: number, chats: Chat[]): void {
    const entries: Record<number, ChatEntry> = {};
    for (const chat of chats) entries[chat.id] = entry(chat);
    this.state = { ...fresh(), phase: "ready", me, cursor, chats: entries, names: { [me.id]: me.name } };
    this.emit();
  }

  setOnline(online: boolean): void {
    if (this.state.online === online) return;
    this.state.online = online;
    this.emit();
  }

  setName(userId: number, name: string): void {
    this.state.names = { ...this.state.names, [userId]: name };
    this.emit();
  }

  /** The signed-in user's own profile changed (a new photo). */
  setMe(me: User): void {
    this.state.me = me;
    this.emit();
  }

  upsertChat(chat: Chat): void {
    const old = this.state.chats[chat.id];
    const merged = old ? { ...old, chat: { ...old.chat, ...chat } } : entry(chat);
    const members = chat.members ?? [];
    const me = this.state.me?.id;
    const others = members.filter((m) => m.user_id !== me).map((m) => m.read_seq);
    if (others.length) merged.peerRead = Math.max(merged.peerRead, ...others);
    this.state.chats = { ...this.state.chats, [chat.id]: merged };
    this.state.missingChats = this.state.missingChats.filter((id) => id !== chat.id);
    this.emit();
  }

  /** A chat the user left or deleted (the group and channel screens). */
  removeChat(chatId: number): void {
    const { [chatId]: _gone, ...rest } = this.state.chats;
    this.state.chats = rest;
    this.emit();
  }

  /** Chats by last activity, newest first. */
  orderedChats(): ChatEntry[] {
    return Object.values(this.state.chats).sort((a, b) => lastActivity(b) - lastActivity(a));
  }

  history(chatId: number, page: Message[], { latest, limit }: { latest: boolean; limit: number }): void {
    const e = this.state.chats[chatId];
    if (!e) return;
    const next = { ...e, messages: mergeMessages(e.messages, page) };
    if (latest) next.loaded = true;
    if (page.length < limit) next.hasOlder = false;
    this.put(next);
  }

  addPending(p: Pending): void {
    const e = this.state.chats[p.chat_id];
    if (!e) return;
    this.put({ ...e, pending: [...e.pending.filter((x) => x.client_id !== p.client_id), p] });
  }

  setPendingStatus(clientId: string, status: SendStatus): void {
    for (const e of Object.values(this.state.chats)) {
      if (e.pending.some((p) => p.client_id === clientId)) {
        this.put({ ...e, pending: e.pending.map((p) => (p.client_id === clientId ? { ...p, status } : p)) });
      }
    }
  }

  updatePending(clientId: string, change: Partial<Pending>): void {
    for (const e of Object.values(this.state.chats)) {
      if (e.pending.some((p) => p.client_id === clientId)) {
        this.put({ ...e, pending: e.pending.map((p) => (p.client_id === clientId ? { ...p, ...change } : p)) });
      }
    }
  }

  allPending(): Pending[] {
    return Object.values(this.state.chats).flatMap((e) => e.pending);
  }

  /** A stored message as the server shows it now (from an ack, an update or an HTTP answer). */
  message(m: Message): void {
    const e = this.state.chats[m.chat_id];
    if (!e) return;
    const pending = m.client_id ? e.pending.filter((p) => p.client_id !== m.client_id) : e.pending;
    for (const gone of e.pending) {
      if (gone.file?.preview && !pending.includes(gone)) URL.revokeObjectURL(gone.file.preview);
    }
    const chat = { ...e.chat, last_seq: Math.max(e.chat.last_seq, m.seq) };
    const last = e.chat.last_message;
    if (!last || last.seq <= m.seq) chat.last_message = m;
    this.put({ ...e, chat, pending, messages: mergeMessages(e.messages, [m]) });
  }

  frame(frame: ServerFrame): void {
    switch (frame.type) {
      case "update":
        this.update(frame);
        return;
      case "ack":
        this.message(frame.message);
        return;
      case "error":
        if (frame.client_id) this.setPendingStatus(frame.client_id, "failed");
        return;
      case "typing":
        this.typing(frame.chat_id, frame.user_id, Date.now() + TYPING_MS);
        return;
      case "channel":
        this.message(frame.message);
        return;
      default:
        return;
    }
  }

  typing(chatId: number, userId: number, until: number): void {
    const e = this.state.chats[chatId];
    if (!e || userId === this.state.me?.id) return;
    this.put({ ...e, typing: { ...e.typing, [userId]: until } });
  }

  /** One update of the seq stream; anything at or below the cursor was applied already. */
  update(u: Update): void {
    if (u.seq <= this.state.cursor) return;
    this.state.cursor = u.seq;
    const me = this.state.me?.id;
    const e = u.chat_id == null ? undefined : this.state.chats[u.chat_id];
    if (u.chat_id != null && !e && u.kind !== "chat_removed") {
      if (!this.state.missingChats.includes(u.chat_id)) this.state.missingChats = [...this.state.missingChats, u.chat_id];
      this.emit();
      return;
    }
    switch (u.kind) {
      case "message_new":
      case "message_edited":
      case "message_deleted":
        if (u.message && e) {
          const fromOther = u.kind === "message_new" && u.message.sender_id !== me;
          const known = e.messages.some((m) => m.id === u.message!.id);
          this.message(u.message);
          if (u.kind === "message_new" && u.message.sender_id != null) delete e.typing[u.message.sender_id];
          if (fromOther && !known && u.message.seq > e.chat.read_seq) this.bumpUnread(u.message.chat_id, 1);
        }
        break;
      case "message_hidden":
        if (e && u.message_id != null) {
          this.put({ ...e, messages: e.messages.filter((m) => m.id !== u.message_id) });
        } else if (e && u.message) {
          this.put({ ...e, messages: e.messages.filter((m) => m.id !== u.message!.id) });
        }
        break;
      case "read":
        if (e && u.read_seq != null) {
          if (u.user_id === me || u.user_id == null) {
            const unread = e.messages.filter((m) => m.seq > u.read_seq! && m.sender_id !== me && !m.deleted).length;
            this.put({ ...e, chat: { ...e.chat, read_seq: Math.max(e.chat.read_seq, u.read_seq), unread_count: unread } });
          } else {
            this.put({ ...e, peerRead: Math.max(e.peerRead, u.read_seq) });
          }
        }
        break;
      case "chat_updated":
        if (e) this.put({ ...e, chat: { ...e.chat, ...(u.title !== undefined ? { title: u.title } : {}) } });
        break;
      case "chat_cleared":
        if (e) {
          const upTo = typeof u.cleared_seq === "number" ? u.cleared_seq : e.chat.last_seq;
          this.put({ ...e, messages: e.messages.filter((m) => m.seq > upTo), chat: { ...e.chat, last_message: null } });
        }
        break;
      case "chat_removed":
        if (u.chat_id != null) {
          const { [u.chat_id]: _gone, ...rest } = this.state.chats;
          this.state.chats = rest;
        }
        break;
      default:
        break;
    }
    this.emit();
  }

  markedRead(chatId: number, seq: number): void {
    const e = this.state.chats[chatId];
    if (!e) return;
    const me = this.state.me?.id;
    const unread = e.messages.filter((m) => m.seq > seq && m.sender_id !== me && !m.deleted).length;
    this.put({ ...e, chat: { ...e.chat, read_seq: Math.max(seq, e.chat.read_seq), unread_count: unread } });
  }

  private bumpUnread(chatId: number, by: number): void {
    const e = this.state.chats[chatId];
    if (!e) return;
    this.put({ ...e, chat: { ...e.chat, unread_count: (e.chat.unread_count ?? 0) + by } });
  }

  private put(e: ChatEntry): void {
    this.state.chats = { ...this.state.chats, [e.chat.id]: e };
    this.emit();
  }
}

function lastActivity(e: ChatEntry): number {
  const last = e.pending.length ? Date.now() : Date.parse(e.chat.last_message?.created_at ?? "") || 0;
  return last || e.chat.id;
}

export const store = new Store();
