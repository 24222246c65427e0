// The client's routes: /, /chats/:id, /contacts, /settings (the server answers index.html for
// each). ?lang= is kept out of the address once read.
import { useEffect, useState } from "preact/hooks";

export type Route =
  | { name: "chats"; chatId?: number }
  | { name: "contacts" }
  | { name: "settings" };

export function parseRoute(path: string): Route {
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
