// The one door to the HTTP API. Signed in by the HttpOnly session cookie (the page never sees
// the token); every write echoes the CSRF cookie in X-CSRF-Token. No token is kept anywhere.
import type {
  Chat,
  CodeResponse,
  ContactsResult,
  Media,
  Message,
  ProfileView,
  SessionRequest,
  SessionResponse,
  UpdatesPage,
  User,
} from "./types";

const CSRF_COOKIE = "payam_csrf";
const CSRF_HEADER = "X-CSRF-Token";

export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function csrf(): string {
  for (const part of document.cookie.split(";")) {
    const [name, ...rest] = part.trim().split("=");
    if (name === CSRF_COOKIE) return decodeURIComponent(rest.join("="));
  }
  return "";
}

export async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers[CSRF_HEADER] = csrf();
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
  } catch {
    throw new ApiFailure(0, "network", "network");
  }
  if (response.status === 204) return undefined as T;
  const data: unknown = await response.json().catch(() => null);
  if (!response.ok) {
    const error = (data as { error?: { code?: string; message?: string } } | null)?.error;
    throw new ApiFailure(response.status, error?.code ?? "http_" + response.status, error?.message ?? "");
  }
  return data as T;
}

/** Send one file as the multipart field `file` (the photo routes) and read the JSON answer. */
export async function sendForm<T>(method: string, path: string, file: Blob): Promise<T> {
  const form = new FormData();
  form.append("file", file);
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers: { Accept: "application/json", [CSRF_HEADER]: csrf() },
      body: form,
      credentials: "same-origin",
    });
  } catch {
    throw new ApiFailure(0, "network", "network");
  }
  const data: unknown = await response.json().catch(() => null);
  if (!response.ok) {
    const error = (data as { error?: { code?: string; message?: string } } | null)?.error;
    throw new ApiFailure(response.status, error?.code ?? "http_" + response.status, error?.message ?? "");
  }
  return data as T;
}

/** Upload one file (POST /v1/media, field `file`), reporting progress from 0 to 1. */
function upload(file: Blob, onProgress: (fraction: number) => void): Promise<Media> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/v1/media");
    xhr.setRequestHeader(CSRF_HEADER, csrf());
    xhr.responseType = "json";
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    };
    xhr.onload = () => {
      if (xhr.status === 201) return resolve(xhr.response as Media);
      const error = (xhr.response as { error?: { code?: string; message?: string } } | null)?.error;
      reject(new ApiFailure(xhr.status, error?.code ?? `http_${xhr.status}`, error?.message ?? ""));
    };
    xhr.onerror = () => reject(new ApiFailure(0, "network", "network"));
    const form = new FormData();
    form.append("file", file);
    xhr.send(form);
  });
}

export const q = (params: Record<string, number | string | undefined>) => {
  const s = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) s.set(k, String(v));
  const text = s.toString();
  return text ? "?" + text : "";
};

export const api = {
  requestCode: (phone: string) => call<CodeResponse>("POST", "/v1/auth/code", { phone }),
  signIn: (body: Omit<SessionRequest, "cookie">) =>
    call<SessionResponse>("POST", "/v1/auth/session", { ...body, cookie: true }),
  signOut: () => call<void>("DELETE", "/v1/auth/session"),
  me: () => call<User>("GET", "/v1/me"),
  user: (id: number) => call<ProfileView>("GET", `/v1/users/${id}`),
  chats: () => call<Chat[]>("GET", "/v1/chats?limit=500"),
  chat: (id: number) => call<Chat>("GET", `/v1/chats/${id}`),
  openDirect: (userId: number) => call<Chat>("POST", "/v1/chats", { type: "direct", user_id: userId }),
  history: (chatId: number, before?: number, limit = 50) =>
    call<{ messages: Message[] }>("GET", `/v1/chats/${chatId}/messages${q({ before, limit })}`),
  send: (chatId: number, clientId: string, text: string, replyTo?: number) =>
    call<Message>("POST", `/v1/chats/${chatId}/messages`, {
      client_id: clientId,
      text,
      ...(replyTo ? { reply_to: replyTo } : {}),
    }),
  edit: (chatId: number, id: number, text: string) =>
    call<Message>("PATCH", `/v1/chats/${chatId}/messages/${id}`, { text }),
  remove: (chatId: number, id: number, forEveryone: boolean) =>
    call<void>("DELETE", `/v1/chats/${chatId}/messages/${id}${q({ for: forEveryone ? "everyone" : "me" })}`),
  markRead: (chatId: number, seq: number) =>
    call<{ read_seq: number }>("POST", `/v1/chats/${chatId}/read`, { seq }),
  updates: (after: number, limit = 1) => call<UpdatesPage>("GET", `/v1/updates${q({ after, limit })}`),
  setContacts: (phones: string[]) => call<ContactsResult>("PUT", "/v1/contacts", { phones }),
  invite: (phone: string) => call<unknown>("POST", "/v1/invites", { phone }),
  upload,
  consents: () => call<{ choices?: Record<string, boolean>; features: Record<string, boolean> }>("GET", "/v1/me/consents"),
  setConsents: (choices: { preferences?: boolean; statistics?: boolean }) =>
    call<{ features: Record<string, boolean> }>("PUT", "/v1/me/consents", choices),
  setPreferences: (prefs: { theme?: string; language?: string }) =>
    call<{ cookie_set: boolean }>("PUT", "/v1/me/preferences", prefs),
  // Calls and Web Push (docs/calls.md, docs/push.md).
  turn: () => call<{ uris: string[]; username: string; password: string; ttl: number }>("GET", "/v1/calls/turn"),
  vapidKey: () => call<{ key: string }>("GET", "/v1/push/vapid-key"),
  pushSubscribe: (sub: { endpoint: string; keys: { p256dh: string; auth: string } }) =>
    call<{ endpoint: string }>("POST", "/v1/push/subscriptions", sub),
  pushUnsubscribe: () => call<void>("DELETE", "/v1/push/subscriptions"),
};
