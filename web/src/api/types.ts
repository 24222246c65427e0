// The shapes the client reads. Where the OpenAPI document describes an answer, the type IS the
// generated one (schema.d.ts, from /openapi.json); where the server still answers an untyped
// object (chats, messages, updates: `additionalProperties: true`), the fields are written here
// from services/render.py and chats.py, and should move to the generated types once the server
// declares them.
import type { components } from "./schema";

type S = components["schemas"];
export type User = S["UserOut"];
export type SessionRequest = S["SessionRequest"];
export type SessionResponse = S["SessionResponse"];
export type CodeResponse = S["CodeResponse"];
export type ContactsResult = S["ContactsResult"];
export type RegisteredContact = S["RegisteredContact"];
export type ProfileView = S["ProfileView"] & { name?: string; photo_url?: string | null };
export type ApiError = S["ErrorResponse"];

export interface Media {
  id: number;
  kind: string;
  mime: string;
  size: number;
  width: number | null;
  height: number | null;
  url: string;
  thumbnail_url: string | null;
}

export interface Message {
  id: number;
  chat_id: number;
  seq: number;
  sender_id?: number | null;
  client_id?: string | null;
  text: string | null;
  reply_to?: number | null;
  forward_of?: number | null;
  forward_from_user_id?: number | null;
  created_at?: string | null;
  edited?: boolean;
  deleted: boolean;
  media?: Media[];
  kind?: string; // "call" for a call's record (docs/calls.md)
  call?: CallRecord | null;
}

/** A call's record, on a message of kind "call" (P5.1: what happened, never how). */
export interface CallRecord {
  id: string;
  video: boolean;
  outcome: "answered" | "missed" | "declined" | "busy" | "failed";
  started_at: string;
  duration_s: number;
}

export interface Chat {
  id: number;
  type: "direct" | "group" | "channel";
  title: string | null;
  photo_url: string | null;
  last_seq: number;
  read_seq: number;
  muted?: boolean;
  peer_id?: number;
  unread_count?: number;
  last_message?: Message | null;
  members?: { user_id: number; role: string; read_seq: number }[];
}

export interface Update {
  seq: number;
  kind: string;
  chat_id: number | null;
  at?: string;
  message?: Message;
  message_id?: number;
  user_id?: number;
  read_seq?: number;
  title?: string;
  [extra: string]: unknown;
}

export interface UpdatesPage {
  updates: Update[];
  last_seq: number;
  has_more: boolean;
  resync_required: boolean;
}

/** Frames the server sends on /v1/ws (docs/realtime.md). */
export type ServerFrame =
  | ({ type: "update" } & Update)
  | { type: "synced"; last_seq: number }
  | { type: "ack"; client_id: string; message: Message; created: boolean }
  | { type: "error"; client_id?: string; call_id?: string; error: { code: string; message: string } }
  | { type: "typing"; chat_id: number; user_id: number }
  | { type: "channel"; chat_id: number; kind: string; message: Message }
  | { type: "resume_required"; after: number }
  | { type: "resync_required"; after: number }
  | { type: "pong" }
  | CallServerFrame;

/** call.* frames relayed by the server (docs/calls.md); from_* name the sending device. */
export interface CallServerFrame {
  type: `call.${string}` | "error";
  call_id: string;
  error?: { code: string; message: string };
  client_id?: undefined;
  from_user_id?: number;
  from_device_id?: number;
  chat_id?: number;
  sdp?: string;
  video?: boolean;
  candidates?: RTCIceCandidateInit[];
  device_id?: number;
  reason?: string;
  outcome?: string;
  duration_s?: number;
  lifetime_ms?: number;
}

/** Frames the client sends. */
export type ClientFrame =
  | { type: "resume"; after: number }
  | {
      type: "send";
      chat_id: number;
      client_id: string;
      text?: string;
      reply_to?: number;
      forward_of?: number;
      media_ids?: number[];
    }
  | { type: "typing"; chat_id: number }
  | { type: "ping" }
  | { type: "call.invite"; chat_id: number; call_id: string; sdp: string; video: boolean }
  | { type: "call.answer" | "call.negotiate"; call_id: string; sdp: string }
  | { type: "call.candidates"; call_id: string; candidates: RTCIceCandidateInit[] }
  | { type: "call.select_answer"; call_id: string; device_id: number }
  | { type: "call.reject"; call_id: string }
  | { type: "call.hangup"; call_id: string; reason?: string };
