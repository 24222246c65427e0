// The HTTP calls of the group, channel, statistics, settings, privacy and operator screens,
// through the same door as the rest (`call`: the session cookie, the CSRF header, ApiFailure).
// Generated types where /openapi.json declares the answer; where it still says "object", the
// fields are written here from the server's services (named in each comment) and should move
// to the generated types once the server declares them.
import { call, q, sendForm } from "./http";
import type { components } from "./schema";
import type { Chat, Message } from "./types";

type S = components["schemas"];
export type Me = S["MeOut"];
export type ProfilePatch = S["ProfilePatch"];
export type Device = S["DeviceOut"];
export type Invitation = S["InvitationOut"];
export type ChatPatch = S["TitleIn"];
export type ConsentsIn = S["ConsentsIn"];
export type GroupChatIn = S["GroupChatIn"];
export type ChannelChatIn = S["ChannelChatIn"];
export type ChatOut = S["ChatOut"];
export type AuditPage = S["AdminAuditOut"];
export type AuditEntry = S["AdminAccessOut"];

/** services/chats.py create_invite / list_invites */
export interface InviteLink {
  token: string;
  chat_id: number;
  created_at: string | null;
  revoked: boolean;
}

/** services/channels.py channel_json */
export interface Channel {
  id: number;
  type: "channel";
  title: string | null;
  handle: string;
  description: string | null;
  photo_url: string | null;
  last_seq: number;
  subscriber_count: number;
  subscribed: boolean;
  message_ttl: number | null;
  role?: string;
  read_seq?: number;
  muted?: boolean;
}

/** A post as a channel shows it: a message with its public counters (services/render.py). */
export type Post = Message & { views?: number; forwards?: number };

/** A breakdown in the statistics: null figures are hidden (fewer than min_group people). */
export interface Breakdown {
  total: number | null;
  cells: Record<string, number> | null;
  other: number | null;
}

/** services/channel_stats.py report (docs/api.md, "Channel statistics"). */
export interface ChannelStats {
  chat_id: number;
  from: string;
  to: string;
  days: number;
  min_group: number;
  subscribers: {
    count: number;
    joined: number;
    left: number;
    as_of: string | null;
    by_country_code: Breakdown | null;
    by_os: Breakdown | null;
  };
  viewers: {
    views: number;
    viewer_days: number;
    by_country_code: Breakdown;
    by_os: Breakdown;
    by_hour: Breakdown;
  };
  daily: {
    day: string;
    subscribers: {
      joined: number | null;
      left: number | null;
      by_country_code: Breakdown | null;
      by_os: Breakdown | null;
    };
    reach: number | null;
    views: number | null;
  }[];
  posts: { id: number; seq: number; created_at: string | null; views: number; forwards: number }[];
}

/** services/consents.py to_json */
export interface ConsentCategory {
  name: string;
  purpose: string;
  optional: boolean;
  granted: boolean;
  cookies: string[];
  features: string[];
  updated_at: string | null;
}

/** services/notices.py list_notices (only the fields shown). */
export interface Notice {
  id: number | string;
  kind?: string;
  title?: string;
  text?: string;
  body?: string;
  partner_id?: number | string;
  partner?: string;
  acknowledged_at?: string | null;
  objected_at?: string | null;
  [extra: string]: unknown;
}

/** services/partners.py for_user */
export interface Disclosures {
  disclosures: {
    partner_id: number | string;
    partner: string;
    purpose: string;
    fields: string[];
    row_count: number;
    sha256: string;
    exported_at: string | null;
  }[];
  [extra: string]: unknown;
}

/** services/erasure.py Receipt.to_json */
export interface ErasureReceipt {
  receipt_id: string;
  user_id: number;
  erased_at: string | null;
  removed: Record<string, unknown>;
  kept: Record<string, unknown>;
  note: string;
}

/** services/admin.py look_up */
export interface OperatorView {
  id: number;
  phone: string;
  name: string;
  status: string | null;
  has_photo: boolean;
  created_at: string | null;
  suspended: boolean;
  devices: { id: number; model: string; os: string; app_version: string; last_active_at: string | null }[];
  contacts_count: number;
}

/** services/admin.py reports (storage/admin.py list_reports) */
export interface Report {
  id: number;
  status: string;
  reason?: string | null;
  chat_id?: number;
  message_id?: number;
  reported_user_id?: number | null;
  reporter_id?: number;
  message_text?: string | null; // null when the message is deleted or expired
  created_at: string | null;
  [extra: string]: unknown;
}

export interface BlockedUser {
  user_id: number;
  name?: string;
  [extra: string]: unknown;
}

export const more = {
  // groups
  createGroup: (title: string, memberIds: number[]) =>
    call<ChatOut>("POST", "/v1/chats", { type: "group", title, member_ids: memberIds } satisfies GroupChatIn),
  patchChat: (chatId: number, body: ChatPatch) => call<void>("PATCH", `/v1/chats/${chatId}`, body),
  addMembers: (chatId: number, userIds: number[]) =>
    call<void>("POST", `/v1/chats/${chatId}/members`, { user_ids: userIds }),
  removeMember: (chatId: number, userId: number) =>
    call<void>("DELETE", `/v1/chats/${chatId}/members/${userId}`),
  setRole: (chatId: number, userId: number, role: string) =>
    call<void>("PUT", `/v1/chats/${chatId}/members/${userId}/role`, { role }),
  leave: (chatId: number) => call<void>("DELETE", `/v1/chats/${chatId}`),
  deleteChat: (chatId: number) => call<void>("DELETE", `/v1/chats/${chatId}${q({ delete: "true" })}`),
  invites: (chatId: number) => call<InviteLink[]>("GET", `/v1/chats/${chatId}/invites`),
  createInvite: (chatId: number) => call<InviteLink>("POST", `/v1/chats/${chatId}/invites`),
  revokeInvite: (chatId: number, token: string) =>
    call<void>("DELETE", `/v1/chats/${chatId}/invites/${encodeURIComponent(token)}`),
  joinByLink: (token: string) => call<Chat>("POST", `/v1/invites/${encodeURIComponent(token)}/join`),
  invitations: () => call<Invitation[]>("GET", "/v1/me/invitations"),
  acceptInvitation: (id: number) => call<ChatOut>("POST", `/v1/me/invitations/${id}/accept`),
  declineInvitation: (id: number) => call<void>("DELETE", `/v1/me/invitations/${id}`),
  // channels
  searchChannels: (text: string) => call<Channel[]>("GET", `/v1/channels${q({ q: text, limit: 20 })}`),
  channel: (handle: string) => call<Channel>("GET", `/v1/channels/${encodeURIComponent(handle)}`),
  channelById: (chatId: number) => call<Channel>("GET", `/v1/chats/${chatId}`),
  posts: (chatId: number, before?: number) =>
    call<{ messages: Post[] }>("GET", `/v1/chats/${chatId}/messages${q({ before, limit: 50 })}`),
  subscribe: (chatId: number) => call<Channel>("POST", `/v1/chats/${chatId}/join`),
  createChannel: (title: string, handle: string) =>
    call<ChatOut>("POST", "/v1/chats", { type: "channel", title, handle } satisfies ChannelChatIn),
  reportViews: (chatId: number, ids: number[]) =>
    call<{ views: Record<string, number> }>("POST", `/v1/chats/${chatId}/views`, { message_ids: ids }),
  stats: (chatId: number, days: number) => call<ChannelStats>("GET", `/v1/chats/${chatId}/stats${q({ days })}`),
  // profile and settings
  me: () => call<Me>("GET", "/v1/me"),
  patchMe: (body: ProfilePatch) => call<Me>("PATCH", "/v1/me", body),
  // photos: JPEG, PNG or WebP; the server re-encodes them without metadata (P3.3)
  putMyPhoto: (file: Blob) => sendForm<Me>("PUT", "/v1/me/photo", file),
  putChatPhoto: (chatId: number, file: Blob) => sendForm<Chat>("PUT", `/v1/chats/${chatId}/photo`, file),
  blocks: () => call<BlockedUser[]>("GET", "/v1/blocks"),
  unblock: (userId: number) => call<void>("DELETE", `/v1/blocks/${userId}`),
  devices: () => call<Device[]>("GET", "/v1/devices"),
  endDevice: (id: number) => call<void>("DELETE", `/v1/devices/${id}`),
  // privacy centre
  consents: () => call<{ categories: ConsentCategory[] }>("GET", "/v1/me/consents"),
  setConsents: (body: ConsentsIn) => call<{ categories: ConsentCategory[] }>("PUT", "/v1/me/consents", body),
  notices: () => call<{ notices: Notice[] }>("GET", "/v1/me/notices"),
  ackNotice: (id: number | string) => call<unknown>("POST", `/v1/me/notices/${id}/ack`),
  objectToPartner: (id: number | string) => call<unknown>("POST", `/v1/me/partner-objections/${id}`),
  disclosures: () => call<Disclosures>("GET", "/v1/me/disclosures"),
  phoneCode: (phone: string) => call<S["CodeResponse"]>("POST", "/v1/me/phone/code", { phone }),
  changePhone: (phone: string, code: string) => call<S["UserOut"]>("POST", "/v1/me/phone", { phone, code }),
  eraseAccount: (code: string) => call<ErasureReceipt>("DELETE", "/v1/me", { code } satisfies S["Erasure"]),
  // operator console
  lookUp: (by: { user_id?: number; phone?: string }) =>
    call<OperatorView>("GET", `/v1/admin/users${q(by)}`),
  suspend: (userId: number, on: boolean) =>
    call<void>(on ? "POST" : "DELETE", `/v1/admin/users/${userId}/suspend`),
  reports: (status: string) => call<Report[]>("GET", `/v1/admin/reports${q({ status, limit: 100 })}`),
  audit: (before: number | null) =>
    call<AuditPage>("GET", `/v1/admin/audit${q({ limit: 50, before: before ?? undefined })}`),
  resolveReport: (id: number, status: S["ReportResolution"]["status"]) =>
    call<void>("POST", `/v1/admin/reports/${id}`, { status } satisfies S["ReportResolution"]),
};

/** The export is a zip streamed by GET /v1/me/export; `progress` hears bytes read (and the
 * total when the server sends Content-Length). The stream is read here, not in a view. */
export async function downloadExport(progress: (read: number, total: number | null) => void): Promise<Blob> {
  const response = await fetch("/v1/me/export", { credentials: "same-origin" });
  if (!response.ok || !response.body) throw new Error("export_" + response.status);
  const length = Number(response.headers.get("Content-Length")) || null;
  const reader = response.body.getReader();
  const parts: Uint8Array[] = [];
  let read = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    read += value.length;
    progress(read, length);
  }
  return new Blob(parts as BlobPart[], { type: response.headers.get("Content-Type") ?? "application/zip" });
}
