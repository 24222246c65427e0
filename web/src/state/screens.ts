// State and actions of the group, channel, statistics, settings, privacy and operator screens.
// A small store of its own beside the chat store (which it feeds when a chat changes): views
// read it with useScreens() and call these actions; no view fetches.
import { useEffect, useState } from "preact/hooks";
import { ApiFailure, api } from "../api/http";
import {
  type AuditEntry,
  type BlockedUser,
  type Channel,
  type ChannelStats,
  type ConsentCategory,
  type Device,
  type Disclosures,
  type ErasureReceipt,
  type Invitation,
  type InviteLink,
  type Me,
  type Notice,
  type OperatorView,
  type Post,
  type ProfilePatch,
  type Report,
  downloadExport,
  more,
} from "../api/screens";
import { learnName } from "./actions";
import { store } from "./store";

export interface ScreensState {
  error: string | null; // the last failure's code (errors.<code> or errors.generic)
  busy: boolean;
  invitations: Invitation[];
  invites: Record<number, InviteLink[]>;
  channelResults: Channel[] | null;
  channels: Record<number, Channel>;
  posts: Record<number, Post[]>;
  stats: Record<number, ChannelStats>;
  me: Me | null;
  blocks: BlockedUser[];
  devices: Device[];
  consents: ConsentCategory[];
  notices: Notice[];
  disclosures: Disclosures | null;
  exportProgress: { read: number; total: number | null; done: boolean } | null;
  receipt: ErasureReceipt | null;
  codeSentTo: string | null;
  operator: OperatorView | null;
  reports: Report[];
  audit: AuditEntry[]; // the operators' audit trail, newest first (GET /v1/admin/audit)
  auditBefore: number | null; // where the older page starts; null when there is none
}

export function freshScreens(): ScreensState {
  return {
    error: null,
    busy: false,
    invitations: [],
    invites: {},
    channelResults: null,
    channels: {},
    posts: {},
    stats: {},
    me: null,
    blocks: [],
    devices: [],
    consents: [],
    notices: [],
    disclosures: null,
    exportProgress: null,
    receipt: null,
    codeSentTo: null,
    operator: null,
    reports: [],
    audit: [],
    auditBefore: null,
  };
}

let state: ScreensState = freshScreens();
const listeners = new Set<() => void>();

export function screens(): ScreensState {
  return state;
}

let used = false; // something of the signed-in account is held

function set(patch: Partial<ScreensState>): void {
  used = true;
  state = { ...state, ...patch };
  for (const l of listeners) l();
}

export function resetScreens(): void {
  state = freshScreens();
  for (const l of listeners) l();
}

// Signed out (or the session ended): nothing of this account stays in the page, except the
// receipt of its deletion, which is the user's to keep.
store.subscribe(() => {
  if (store.state.phase === "signedOut" && used) {
    used = false;
    state = { ...freshScreens(), receipt: state.receipt };
    for (const l of listeners) l();
  }
});

export function useScreens(): ScreensState {
  const [, setV] = useState(0);
  useEffect(() => {
    const on = () => setV((v) => v + 1);
    listeners.add(on);
    return () => void listeners.delete(on);
  }, []);
  return state;
}

/** Run one API action: busy while it runs, its failure's code kept for the view to say. */
async function run<T>(action: () => Promise<T>): Promise<T | undefined> {
  set({ busy: true, error: null });
  try {
    const result = await action();
    set({ busy: false });
    return result;
  } catch (e) {
    set({ busy: false, error: e instanceof ApiFailure ? e.code : "generic" });
    return undefined;
  }
}

export function clearError(): void {
  set({ error: null });
}

async function refreshChat(chatId: number): Promise<void> {
  try {
    const chat = await api.chat(chatId);
    store.upsertChat(chat);
    for (const m of chat.members ?? []) void learnName(m.user_id);
  } catch {
    // gone for us (left, removed, deleted): the chat store hears it from the socket
  }
}

/** A chat with its members (the list of chats carries none). */
export async function loadChat(chatId: number): Promise<void> {
  await refreshChat(chatId);
}

// -- groups ---------------------------------------------------------------------------------

export async function createGroup(title: string, memberIds: number[]): Promise<number | undefined> {
  const chat = await run(() => more.createGroup(title.trim(), memberIds));
  if (chat) await refreshChat(chat.id);
  return chat?.id;
}

export async function renameChat(chatId: number, title: string): Promise<void> {
  await run(() => more.patchChat(chatId, { title: title.trim() }));
  await refreshChat(chatId);
}

export async function setMuted(chatId: number, muted: boolean): Promise<void> {
  await run(() => more.patchChat(chatId, { muted }));
  await refreshChat(chatId);
}

/** The per-chat disappearing timer (P5.3): seconds, or null for messages that stay. */
export async function setChatTimer(chatId: number, seconds: number | null): Promise<void> {
  await run(() => more.patchChat(chatId, { message_ttl: seconds }));
  await refreshChat(chatId);
}

export async function addMembers(chatId: number, userIds: number[]): Promise<void> {
  await run(() => more.addMembers(chatId, userIds));
  await refreshChat(chatId);
}

export async function removeMember(chatId: number, userId: number): Promise<void> {
  await run(() => more.removeMember(chatId, userId));
  await refreshChat(chatId);
}

export async function setRole(chatId: number, userId: number, role: string): Promise<void> {
  await run(() => more.setRole(chatId, userId, role));
  await refreshChat(chatId);
}

export async function leaveChat(chatId: number, deleteForAll: boolean): Promise<boolean> {
  const ok = (await run(() => (deleteForAll ? more.deleteChat(chatId) : more.leave(chatId)).then(() => true))) ?? false;
  if (ok) store.removeChat(chatId);
  return ok;
}

export async function loadInvites(chatId: number): Promise<void> {
  const list = await run(() => more.invites(chatId));
  if (list) set({ invites: { ...state.invites, [chatId]: list } });
}

export async function createInvite(chatId: number): Promise<void> {
  if (await run(() => more.createInvite(chatId))) await loadInvites(chatId);
}

export async function revokeInvite(chatId: number, token: string): Promise<void> {
  await run(() => more.revokeInvite(chatId, token));
  await loadInvites(chatId);
}

/** The address a link is shared as; /join/<token> opens the client and joins. */
export function inviteUrl(token: string, origin: string = location.origin): string {
  return `${origin}/join/${encodeURIComponent(token)}`;
}

export async function joinByLink(token: string): Promise<number | undefined> {
  const chat = await run(() => more.joinByLink(token));
  if (chat) await refreshChat(chat.id);
  return chat?.id;
}

export async function loadInvitations(): Promise<void> {
  const list = await run(() => more.invitations());
  if (list) set({ invitations: list });
  // An invitee may see who invited them (P3.2), so the name can be shown.
  for (const inv of list ?? []) void learnName(inv.invited_by);
}

export async function answerInvitation(id: number, accept: boolean): Promise<number | undefined> {
  const chat = await run(() => (accept ? more.acceptInvitation(id) : more.declineInvitation(id).then(() => null)));
  set({ invitations: state.invitations.filter((i) => i.id !== id) });
  if (chat) await refreshChat(chat.id);
  return chat?.id;
}

// -- channels -------------------------------------------------------------------------------

/** "@handle" is looked up exactly first; anything else searches handles and titles. */
export async function findChannels(text: string): Promise<void> {
  const query = text.trim();
  if (!query) return set({ channelResults: null });
  const found = await run(() => more.searchChannels(query));
  if (found) set({ channelResults: found, error: null });
}

export async function openChannel(chatId: number): Promise<void> {
  const [channel, page] = (await run(() => Promise.all([more.channelById(chatId), more.posts(chatId)]))) ?? [];
  if (!channel || !page) return;
  set({
    channels: { ...state.channels, [chatId]: channel },
    posts: { ...state.posts, [chatId]: [...page.messages].sort((a, b) => a.seq - b.seq) },
  });
  await reportViews(chatId, page.messages.map((m) => m.id));
}

export async function openChannelByHandle(handle: string): Promise<number | undefined> {
  const channel = await run(() => more.channel(handle.replace(/^@/, "")));
  if (!channel) return undefined;
  await openChannel(channel.id);
  return channel.id;
}

export async function subscribe(chatId: number): Promise<void> {
  if (await run(() => more.subscribe(chatId))) {
    await refreshChat(chatId);
    await openChannel(chatId);
  }
}

export async function unsubscribe(chatId: number): Promise<void> {
  if ((await run(() => more.leave(chatId).then(() => true))) && state.channels[chatId]) {
    store.removeChat(chatId);
    await openChannel(chatId);
  }
}

export async function createChannel(title: string, handle: string): Promise<number | undefined> {
  const chat = await run(() => more.createChannel(title.trim(), handle.trim().replace(/^@/, "")));
  if (chat) await refreshChat(chat.id);
  return chat?.id;
}

export async function postToChannel(chatId: number, text: string): Promise<void> {
  if (await run(() => api.send(chatId, crypto.randomUUID(), text))) await openChannel(chatId);
}

const viewed = new Set<string>();

/** The ids of this channel's posts not yet reported from this page (each post once). */
export function unreported(chatId: number, ids: readonly number[], seen: Set<string> = viewed): number[] {
  const out = ids.filter((id) => !seen.has(`${chatId}:${id}`));
  for (const id of out) seen.add(`${chatId}:${id}`);
  return out;
}

/** POST /v1/chats/{id}/views for the posts shown; the answer's counts replace ours. */
export async function reportViews(chatId: number, ids: readonly number[]): Promise<void> {
  const fresh = unreported(chatId, ids);
  if (fresh.length === 0) return;
  try {
    const { views } = await more.reportViews(chatId, fresh.slice(0, 100));
    set({ posts: { ...state.posts, [chatId]: withViews(state.posts[chatId] ?? [], views) } });
  } catch {
    for (const id of fresh) viewed.delete(`${chatId}:${id}`);
  }
}

export function withViews(posts: Post[], views: Record<string, number>): Post[] {
  return posts.map((p) => (String(p.id) in views ? { ...p, views: views[String(p.id)] } : p));
}

export async function loadStats(chatId: number, days: number): Promise<void> {
  const stats = await run(() => more.stats(chatId, days));
  if (stats) set({ stats: { ...state.stats, [chatId]: stats } });
}

// -- profile and settings -------------------------------------------------------------------

export async function loadProfile(): Promise<void> {
  const [me, blocks, devices] = (await run(() => Promise.all([more.me(), more.blocks(), more.devices()]))) ?? [];
  if (me) set({ me, blocks: blocks ?? [], devices: devices ?? [] });
}

export async function saveProfile(patch: ProfilePatch): Promise<boolean> {
  const me = await run(() => more.patchMe(patch));
  if (me) set({ me });
  return me !== undefined;
}

/** A new profile photo (PUT /v1/me/photo): shown in Settings and wherever the user's avatar is. */
export async function setMyPhoto(file: Blob): Promise<boolean> {
  const me = await run(() => more.putMyPhoto(file));
  if (!me) return false;
  set({ me });
  if (store.state.me) store.setMe({ ...store.state.me, has_photo: me.has_photo, photo_url: me.photo_url });
  return true;
}

/** A new group photo (admins, PUT /v1/chats/{id}/photo): the answer is the chat, whose
 * photo_url the chat list and the conversation show. */
export async function setChatPhoto(chatId: number, file: Blob): Promise<boolean> {
  const chat = await run(() => more.putChatPhoto(chatId, file));
  if (!chat) return false;
  store.upsertChat(chat);
  return true;
}

export async function unblock(userId: number): Promise<void> {
  await run(() => more.unblock(userId));
  set({ blocks: state.blocks.filter((b) => b.user_id !== userId) });
}

export async function endDevice(id: number): Promise<void> {
  if ((await run(() => more.endDevice(id).then(() => true))) ?? false)
    set({ devices: state.devices.filter((d) => d.id !== id) });
}

/** Disappearing-timer choices, in seconds (null: messages stay). */
export const TIMERS: readonly (number | null)[] = [null, 30, 300, 3600, 86400, 604800];

// -- privacy centre -------------------------------------------------------------------------

export async function loadPrivacy(): Promise<void> {
  const [consents, notices, disclosures] =
    (await run(() => Promise.all([more.consents(), more.notices(), more.disclosures()]))) ?? [];
  if (consents) set({ consents: consents.categories, notices: notices?.notices ?? [], disclosures: disclosures ?? null });
}

export async function setConsent(name: string, granted: boolean): Promise<void> {
  if (name !== "preferences" && name !== "statistics") return;
  const answer = await run(() => more.setConsents({ [name]: granted }));
  if (answer) set({ consents: answer.categories });
}

export async function acknowledge(id: number | string): Promise<void> {
  if (await run(() => more.ackNotice(id).then(() => true))) await loadPrivacy();
}

export async function objectToPartner(id: number | string): Promise<void> {
  if (await run(() => more.objectToPartner(id).then(() => true))) await loadPrivacy();
}

/** Fetch the export with progress and hand it to the browser as payam-export.zip. */
export async function exportData(save: (blob: Blob, name: string) => void): Promise<void> {
  set({ exportProgress: { read: 0, total: null, done: false }, error: null });
  try {
    const blob = await downloadExport((read, total) => set({ exportProgress: { read, total, done: false } }));
    set({ exportProgress: { read: blob.size, total: blob.size, done: true } });
    save(blob, "payam-export.zip");
  } catch {
    set({ exportProgress: null, error: "export_failed" });
  }
}

/** The share of a download done, 0 to 100, or null while the size is unknown. */
export function percent(read: number, total: number | null): number | null {
  if (!total) return null;
  return Math.min(100, Math.floor((read / total) * 100));
}

export async function sendPhoneCode(phone: string): Promise<void> {
  if (await run(() => more.phoneCode(phone.trim()))) set({ codeSentTo: phone.trim() });
}

/** A fresh code to the account's own number (the sign-in code), which deleting it asks for. */
export async function sendErasureCode(): Promise<void> {
  const phone = store.state.me?.phone;
  if (phone && (await run(() => api.requestCode(phone)))) set({ codeSentTo: phone });
}

export async function changePhone(phone: string, code: string): Promise<boolean> {
  const user = await run(() => more.changePhone(phone.trim(), code.trim()));
  if (user) set({ codeSentTo: null });
  return user !== undefined;
}

/** Delete the account with a fresh code; the receipt stays on screen (and downloadable) after
 * the session is gone, and the chat store signs out. */
export async function eraseAccount(code: string): Promise<void> {
  const receipt = await run(() => more.eraseAccount(code.trim()));
  if (receipt) {
    set({ receipt, codeSentTo: null });
    store.reset("signedOut");
  }
}

export function receiptFile(receipt: ErasureReceipt): Blob {
  return new Blob([JSON.stringify(receipt, null, 2)], { type: "application/json" });
}

// -- operator console -----------------------------------------------------------------------

export async function lookUp(text: string): Promise<void> {
  const value = text.trim();
  const by = /^\d+$/.test(value) ? { user_id: Number(value) } : { phone: value };
  const found = await run(() => more.lookUp(by));
  set({ operator: found ?? null });
}

export async function setSuspended(userId: number, on: boolean): Promise<void> {
  if (await run(() => more.suspend(userId, on).then(() => true))) {
    const found = await run(() => more.lookUp({ user_id: userId }));
    if (found) set({ operator: found });
  }
}

export async function loadReports(status: string): Promise<void> {
  const reports = await run(() => more.reports(status));
  if (reports) set({ reports });
}

export async function resolveReport(id: number, status: "resolved" | "dismissed", listed: string): Promise<void> {
  if (await run(() => more.resolveReport(id, status).then(() => true))) await loadReports(listed);
}

/** The audit trail of operator reads (P11.1): the newest page, or the next older one. */
export async function loadAudit(older = false): Promise<void> {
  const before = older ? state.auditBefore : null;
  if (older && before === null) return;
  const page = await run(() => more.audit(before));
  if (page) set({ audit: older ? [...state.audit, ...page.entries] : page.entries, auditBefore: page.next_before });
}
