// The page's side of Web Push (docs/push.md): register the service worker (/sw.js, scope /),
// subscribe with the server's VAPID key, hand the subscription to the server for this device,
// and keep the person's choice (whether notifications show the sender and the text) where the
// worker can read it (the Cache API). The push itself carries no content (P8.1).
import { api } from "../api/http";
import { dir, lang, t } from "../i18n";
import { navigate } from "../state/route";

const ENABLED_KEY = "payam.push.enabled";
const CONTENT_KEY = "payam.push.showContent";
const PREFS_CACHE = "payam-push";
const PREFS_URL = "/__payam/push-prefs";

export type PushStatus = "unsupported" | "denied" | "off" | "on";

export function supported(): boolean {
  return "serviceWorker" in navigator && "PushManager" in globalThis && "Notification" in globalThis;
}

function flag(key: string): boolean {
  try {
    return localStorage.getItem(key) === "1";
  } catch {
    return false;
  }
}

function setFlag(key: string, on: boolean): void {
  try {
    if (on) localStorage.setItem(key, "1");
    else localStorage.removeItem(key);
  } catch {
    // private mode: lasts for this page
  }
}

export function status(): PushStatus {
  if (!supported()) return "unsupported";
  if (Notification.permission === "denied") return "denied";
  return Notification.permission === "granted" && flag(ENABLED_KEY) ? "on" : "off";
}

export function showsContent(): boolean {
  return flag(CONTENT_KEY);
}

/** What the worker needs to word a notification: the choice and the strings, in this language. */
export async function writePrefs(): Promise<void> {
  if (!("caches" in globalThis)) return;
  const prefs = {
    showContent: showsContent(),
    lang: lang(),
    dir: dir(),
    strings: {
      newMessage: t("push.newMessage"),
      unread: t("push.unread"),
      incomingCall: t("push.incomingCall"),
      openToAnswer: t("push.openToAnswer"),
    },
  };
  const cache = await caches.open(PREFS_CACHE);
  await cache.put(PREFS_URL, new Response(JSON.stringify(prefs), { headers: { "Content-Type": "application/json" } }));
}

function keyBytes(base64url: string): Uint8Array<ArrayBuffer> {
  const b64 = base64url.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(base64url.length / 4) * 4, "=");
  const raw = atob(b64);
  const out = new Uint8Array(new ArrayBuffer(raw.length));
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

let registering: Promise<ServiceWorkerRegistration> | null = null;

function register(): Promise<ServiceWorkerRegistration> {
  registering ??= navigator.serviceWorker.register("/sw.js", { scope: "/" }).then(() => navigator.serviceWorker.ready);
  return registering;
}

async function subscribe(): Promise<void> {
  const registration = await register();
  const { key } = await api.vapidKey();
  const subscription = await registration.pushManager.subscribe({
    userVisibleOnly: true,
    applicationServerKey: keyBytes(key),
  });
  const json = subscription.toJSON();
  const p256dh = json.keys?.p256dh;
  const auth = json.keys?.auth;
  if (!json.endpoint || !p256dh || !auth) throw new Error("subscription without keys");
  await api.pushSubscribe({ endpoint: json.endpoint, keys: { p256dh, auth } });
}

/** Turn notifications on (asks the browser's permission) or off, for this device. */
export async function setEnabled(on: boolean): Promise<PushStatus> {
  if (!supported()) return "unsupported";
  if (!on) {
    setFlag(ENABLED_KEY, false);
    const registration = await navigator.serviceWorker.getRegistration("/");
    await (await registration?.pushManager.getSubscription())?.unsubscribe().catch(() => false);
    await api.pushUnsubscribe().catch(() => undefined);
    return status();
  }
  const permission = await Notification.requestPermission();
  if (permission !== "granted") return status();
  await writePrefs();
  await subscribe();
  setFlag(ENABLED_KEY, true);
  return status();
}

export async function setShowContent(on: boolean): Promise<void> {
  setFlag(CONTENT_KEY, on);
  await writePrefs();
}

/**
 * At every start, signed in: register the worker, let a notification's click open a chat in
 * this tab, and renew this device's subscription (a new session has none: signing out removed
 * it on the server).
 */
export async function startPush(): Promise<void> {
  if (!supported()) return;
  navigator.serviceWorker.addEventListener("message", (event: MessageEvent) => {
    const data = event.data as { type?: string; url?: string } | null;
    if (data?.type === "payam.open" && typeof data.url === "string" && data.url.startsWith("/")) navigate(data.url);
  });
  try {
    await register();
    await writePrefs();
    if (status() === "on") await subscribe();
  } catch (err) {
    console.warn("push", err);
  }
}

/** At sign-out: this browser stops showing anything for the account. */
export async function stopPush(): Promise<void> {
  if (!supported()) return;
  const registration = await navigator.serviceWorker.getRegistration("/").catch(() => undefined);
  await (await registration?.pushManager.getSubscription().catch(() => null))?.unsubscribe().catch(() => false);
  if ("caches" in globalThis) await caches.delete(PREFS_CACHE).catch(() => false);
}
