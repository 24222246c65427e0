import type { Chat } from "../api/types";
import { t } from "../i18n";

export function chatTitle(chat: Chat, names: Record<number, string>): string {
  if (chat.title) return chat.title;
  if (chat.peer_id !== undefined && names[chat.peer_id]) return names[chat.peer_id];
  return t("chats.unknown", { id: chat.id });
}

export function initials(title: string): string {
  const words = title.trim().split(/\s+/).filter(Boolean);
  return (words.slice(0, 2).map((w) => [...w][0]).join("") || "?").toUpperCase();
}
