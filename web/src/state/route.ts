// The client's routes: /, /chats/:id, /contacts, /settings (the server answers index.html for
// each). ?lang= is kept out of the address once read.
import { useEffect, useState } from "preact/hooks";

export type Route =
  | { name: "chats"; chatId?: number }
  | { name: "contacts" }
  | { name: "settings" }
  // the group, channel, privacy and operator screens (views/more)
  | { name: "newGroup" }
  | { name: "join"; token: string }
  | { name: "chatInfo"; chatId: number }
  | { name: "stats"; chatId: number }
  | { name: "channels" }
  | { name: "channel"; chatId: number }
  | { name: "privacy" }
  | { name: "admin" };

export function parseRoute(path: string): Route {
  const more = parseMoreRoute(path);
  if (more) return more;
  const chat = /^\/chats\/(\d+)\/?$/.exec(path);
  if (chat) return { name: "chats", chatId: Number(chat[1]) };
  if (path.startsWith("/contacts")) return { name: "contacts" };
  if (path.startsWith("/settings")) return { name: "settings" };
  return { name: "chats" };
}

const listeners = new Set<() => void>();

export function navigate(path: string): void {
  if (location.pathname !== path) history.pushState(null, "", path);
  for (const l of listeners) l();
}

export function useRoute(): Route {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    const on = () => setPath(location.pathname);
    listeners.add(on);
    addEventListener("popstate", on);
    return () => {
      listeners.delete(on);
      removeEventListener("popstate", on);
    };
  }, []);
  return parseRoute(path);
}

/** /groups/new, /join/:token, /chats/:id/info, /chats/:id/stats, /channels[/:id], /privacy,
 * /admin. */
export function parseMoreRoute(path: string): Route | null {
  const chatPage = /^\/chats\/(\d+)\/(info|stats)\/?$/.exec(path);
  if (chatPage) return { name: chatPage[2] === "info" ? "chatInfo" : "stats", chatId: Number(chatPage[1]) };
  const join = /^\/join\/([^/]+)\/?$/.exec(path);
  if (join) return { name: "join", token: decodeURIComponent(join[1]) };
  const channel = /^\/channels\/(\d+)\/?$/.exec(path);
  if (channel) return { name: "channel", chatId: Number(channel[1]) };
  if (/^\/channels\/?$/.test(path)) return { name: "channels" };
  if (/^\/groups\/new\/?$/.test(path)) return { name: "newGroup" };
  if (/^\/privacy\/?$/.test(path)) return { name: "privacy" };
  if (/^\/admin\/?$/.test(path)) return { name: "admin" };
  return null;
}
