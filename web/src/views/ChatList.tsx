import { useEffect, useState } from "preact/hooks";
import type { Message } from "../api/types";
import { num, t, time, shortDay } from "../i18n";
import { useStore } from "../state/hooks";
import { navigate } from "../state/route";
import { type ChatEntry, store } from "../state/store";
import { Avatar } from "./Avatar";
import { Icon } from "./Icon";
import { callSummary, isMissed } from "../calls/record";
import { chatTitle } from "./names";

const READY_MARK = "payam:chats-ready";

function preview(m: Message | null | undefined, me: number | undefined): string {
  if (!m) return t("chats.noMessages");
  if (m.deleted) return t("chats.deleted");
  if (m.call) return callSummary(m, me);
  const text = m.text || (m.media?.length ? (m.media[0].kind === "image" ? t("chats.photo") : t("chats.media")) : "");
  return m.sender_id === me ? t("chats.you", { text }) : text;
}

function when(iso: string | null | undefined): string {
  if (!iso) return "";
  const date = new Date(iso);
  const today = new Date();
  return date.toDateString() === today.toDateString() ? time(date) : shortDay(date);
}

export function ChatList({ activeId }: { activeId?: number }) {
  const state = useStore();
  const [filter, setFilter] = useState("");
  const me = state.me?.id;
  const now = Date.now();
  const all = store.orderedChats();
  const needle = filter.trim().toLocaleLowerCase();
  const shown = needle ? all.filter((e) => chatTitle(e.chat, state.names).toLocaleLowerCase().includes(needle)) : all;

  const [, tick] = useState(0);
  const typingSomewhere = all.some((e) => Object.values(e.typing).some((until) => until > now));
  useEffect(() => {
    // "typing…" ends on its own: look again when it may have.
    if (!typingSomewhere) return;
    const timer = setTimeout(() => tick((n) => n + 1), 1000);
    return () => clearTimeout(timer);
  });
  useEffect(() => {
    // For bench/web_client.py: when the list first stood ready for input.
    if (all.length && performance.getEntriesByName(READY_MARK).length === 0) performance.mark(READY_MARK);
  });

  const item = (e: ChatEntry) => {
    const title = chatTitle(e.chat, state.names);
    const last = e.pending.length
      ? { text: e.pending[e.pending.length - 1].text, sender_id: me, deleted: false } as Message
      : e.chat.last_message;
    const typing = Object.values(e.typing).some((until) => until > now);
    const unread = e.chat.unread_count ?? 0;
    const line = typing ? t("chats.typing") : preview(last, me);
    const stamp = when(e.chat.last_message?.created_at);
    const label = [title, line, stamp, unread ? t("chats.unread", { count: unread }) : "", e.chat.muted ? t("chats.muted") : ""]
      .filter(Boolean)
      .join(", ");
    return (
      <li key={e.chat.id} aria-label={label} class={e.chat.id === activeId ? "chat active" : "chat"}>
        <a
          href={`/chats/${e.chat.id}`}
          aria-current={e.chat.id === activeId ? "page" : undefined}
          onClick={(ev) => {
            ev.preventDefault();
            navigate(`/chats/${e.chat.id}`);
          }}
        >
          <Avatar title={title} photo={e.chat.photo_url} id={e.chat.id} />
          <span class="chat-text">
            <span class="chat-top">
              <span class="chat-title" dir="auto">
                {title}
              </span>
              <span class="chat-time">{stamp}</span>
            </span>
            <span class="chat-bottom">
              <span class={typing ? "chat-last typing" : last && isMissed(last, me) ? "chat-last missed" : "chat-last"} dir="auto">
                {line}
              </span>
              {e.chat.muted && (
                <span class="muted-mark">
                  <Icon name="muted" />
                </span>
              )}
              {unread > 0 && <span class="badge">{num(unread)}</span>}
            </span>
          </span>
        </a>
      </li>
    );
  };

  return (
    <aside class="pane chatlist">
      <h2 class="sr-only">{t("chats.title")}</h2>
      <div class="filter">
        <label for="chat-filter" class="sr-only">
          {t("chats.filter")}
        </label>
        <input
          id="chat-filter"
          type="search"
          dir="auto"
          placeholder={t("chats.filter")}
          value={filter}
          onInput={(ev) => setFilter(ev.currentTarget.value)}
        />
      </div>
      <ul aria-label={t("chats.title")} class="chats">
        {shown.map(item)}
      </ul>
      {all.length === 0 && <p class="hint">{t("chats.empty")}</p>}
      {all.length > 0 && shown.length === 0 && <p class="hint">{t("chats.noMatch")}</p>}
    </aside>
  );
}
