import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import type { Message } from "../api/types";
import { day, dayKey, t } from "../i18n";
import * as actions from "../state/actions";
import { useStore } from "../state/hooks";
import { navigate } from "../state/route";
import { firstUnread } from "../state/store";
import { Avatar } from "./Avatar";
import { CallButtons } from "../calls/CallButtons";
import { Composer } from "./Composer";
import { ForwardPicker } from "./ForwardPicker";
import { MessageBubble, PendingBubble } from "./MessageBubble";
import { chatTitle } from "./names";

// The log renders a window of at most WINDOW messages: scrolling up widens it (fetching older
// pages by seq when the store runs out) and drops the newest from the DOM beyond the cap;
// scrolling back down brings them back. 10,000 messages never mean 10,000 nodes.
const WINDOW = 200;
const STEP = 50;
const NEAR = 200; // px from an edge that counts as "at" it

function dayLabel(date: Date): string {
  const today = new Date();
  const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
  if (dayKey(date) === dayKey(today)) return t("conv.today", { date: day(date) });
  if (dayKey(date) === dayKey(yesterday)) return t("conv.yesterday", { date: day(date) });
  return day(date);
}

export function Conversation({ chatId }: { chatId: number }) {
  const state = useStore();
  const e = state.chats[chatId];
  const me = state.me?.id;
  const [replyTo, setReplyTo] = useState<Message | null>(null);
  const [editing, setEditing] = useState<Message | null>(null);
  const [forwarding, setForwarding] = useState<Message | null>(null);
  const [shown, setShown] = useState(STEP);
  const [below, setBelow] = useState(0); // newest messages left out of the window
  const [loadingOlder, setLoadingOlder] = useState(false);
  const [, tick] = useState(0);
  const [dragging, setDragging] = useState(false);
  const log = useRef<HTMLDivElement>(null);
  const stick = useRef(true);
  const [away, setAway] = useState(false); // scrolled up from the newest: "Jump to latest"
  // Where the chat was read up to when it opened: "Unread messages" goes above the first
  // message after it, and the chat opens there (not at the bottom) until read.
  const opened = useRef<{ readSeq: number; unread: boolean; placed: boolean } | null>(null);
  if (e && !opened.current) {
    const unread = (e.chat.unread_count ?? 0) > 0;
    opened.current = { readSeq: e.chat.read_seq, unread, placed: !unread };
    if (unread) stick.current = false;
  }

  const [opening, setOpening] = useState(true); // until the history reaches the first unread
  useEffect(() => {
    void actions.openChat(chatId).finally(() => setOpening(false));
  }, [chatId]);

  const messages = e?.messages ?? [];
  const newest = messages[messages.length - 1];
  const unreadMark = opened.current?.unread ? firstUnread(messages, opened.current.readSeq, me) : undefined;

  // Once the history is in: bring the first unread into the window and scroll to it.
  useLayoutEffect(() => {
    const o = opened.current;
    const el = log.current;
    if (!o || o.placed || opening || !e?.loaded || !el) return;
    if (!unreadMark) {
      o.placed = true;
      stick.current = true;
      el.scrollTop = el.scrollHeight;
      return;
    }
    const index = messages.indexOf(unreadMark);
    if (messages.length - below - shown > index && shown < WINDOW) {
      setShown(Math.min(WINDOW, messages.length - below - index + 1));
      return;
    }
    o.placed = true;
    const mark = el.querySelector(".unread-mark");
    if (mark) mark.scrollIntoView({ block: "start" });
    else el.scrollTop = 0; // more unread than the window holds: its oldest
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < NEAR;
    stick.current = atBottom;
    setAway(!atBottom);
    if (atBottom) void actions.markRead(chatId);
  }, [e?.loaded, opening, unreadMark?.id, shown, messages.length]);

  // Keep the newest message in view while the reader is at the bottom; mark it read.
  useLayoutEffect(() => {
    const el = log.current;
    if (el && stick.current && below === 0) el.scrollTop = el.scrollHeight;
  }, [newest?.id, e?.pending.length, below, e?.loaded]);
  useEffect(() => {
    if (stick.current && below === 0 && document.visibilityState === "visible") void actions.markRead(chatId);
  }, [newest?.seq, chatId]);

  useEffect(() => {
    // Coming back to the tab with the chat open and scrolled down reads what arrived meanwhile.
    const onVisible = () => {
      if (document.visibilityState === "visible" && stick.current) void actions.markRead(chatId);
    };
    document.addEventListener("visibilitychange", onVisible);
    return () => document.removeEventListener("visibilitychange", onVisible);
  }, [chatId]);

  const typingNames = e
    ? Object.entries(e.typing)
        .filter(([, until]) => until > Date.now())
        .map(([uid]) => state.names[Number(uid)] || t("conv.someone"))
    : [];
  useEffect(() => {
    if (typingNames.length === 0) return;
    const timer = setTimeout(() => tick((n) => n + 1), 1000);
    return () => clearTimeout(timer);
  });

  if (!e) return <main class="pane conversation" aria-busy="true" />;
  const title = chatTitle(e.chat, state.names);
  const end = messages.length - below;
  const start = Math.max(0, end - shown);
  const windowed = messages.slice(start, end);
  const byId = new Map(messages.map((m) => [m.id, m]));

  const onScroll = async () => {
    const el = log.current;
    if (!el) return;
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < NEAR;
    if (opened.current && !opened.current.placed) return; // not yet at the first unread
    stick.current = atBottom;
    setAway(!atBottom || below > 0);
    if (atBottom && below > 0) {
      setBelow(Math.max(0, below - STEP));
      return;
    }
    if (atBottom) void actions.markRead(chatId);
    if (el.scrollTop < NEAR && !loadingOlder) {
      if (start > 0) {
        grow();
      } else if (e.hasOlder) {
        setLoadingOlder(true);
        try {
          await actions.loadOlder(chatId);
          grow();
        } finally {
          setLoadingOlder(false);
        }
      }
    }
  };
  const grow = () => {
    if (shown + STEP > WINDOW) setBelow((b) => b + STEP);
    else setShown((s) => s + STEP);
  };

  const rows: preact.JSX.Element[] = [];
  let lastDay = "";
  let lastSender: number | null | undefined;
  for (const m of windowed) {
    const date = m.created_at ? new Date(m.created_at) : null;
    if (date && dayKey(date) !== lastDay) {
      lastDay = dayKey(date);
      lastSender = undefined;
      rows.push(
        <div class="day" role="separator" key={"d" + lastDay}>
          <span>{dayLabel(date)}</span>
        </div>,
      );
    }
    if (m === unreadMark) {
      rows.push(
        <div class="day unread-mark" role="separator" aria-label={t("conv.unreadBelow")} key="unread">
          <span>{t("conv.unreadBelow")}</span>
        </div>,
      );
    }
    const replied = m.reply_to ? byId.get(m.reply_to) : undefined;
    if (m.forward_from_user_id) void actions.learnName(m.forward_from_user_id);
    rows.push(
      <MessageBubble
        key={m.id}
        message={m}
        mine={m.sender_id === me}
        sender={(m.sender_id && state.names[m.sender_id]) || ""}
        showSender={e.chat.type === "group" && m.sender_id !== lastSender}
        replied={replied}
        repliedSender={replied?.sender_id ? state.names[replied.sender_id] : ""}
        read={m.seq <= e.peerRead}
        me={me}
        forwardedFrom={m.forward_from_user_id ? state.names[m.forward_from_user_id] : undefined}
        onForward={setForwarding}
        onReply={(msg) => {
          setEditing(null);
          setReplyTo(msg);
        }}
        onEdit={(msg) => {
          setReplyTo(null);
          setEditing(msg);
        }}
        onDelete={(msg, all) => void actions.remove(msg, all)}
      />,
    );
    lastSender = m.sender_id;
  }

  const send = (text: string) => {
    if (editing) {
      void actions.edit(editing, text);
      setEditing(null);
      return;
    }
    stick.current = true;
    setBelow(0);
    actions.send(chatId, text, replyTo?.id);
    setReplyTo(null);
  };

  const jumpToLatest = () => {
    stick.current = true;
    setAway(false);
    setBelow(0);
    const el = log.current;
    if (el) el.scrollTop = el.scrollHeight;
    void actions.markRead(chatId);
  };

  const sendFiles = (files: File[]) => {
    stick.current = true;
    setBelow(0);
    for (const file of files) void actions.sendFile(chatId, file, "", replyTo?.id);
    setReplyTo(null);
  };

  return (
    <main
      class={dragging ? "pane conversation dragging" : "pane conversation"}
      onDragOver={(ev) => {
        if (ev.dataTransfer?.types.includes("Files")) {
          ev.preventDefault();
          setDragging(true);
        }
      }}
      onDragLeave={(ev) => {
        if (ev.currentTarget === ev.target) setDragging(false);
      }}
      onDrop={(ev) => {
        ev.preventDefault();
        setDragging(false);
        sendFiles([...(ev.dataTransfer?.files ?? [])]);
      }}
    >
      {dragging && (
        <div class="drop-hint" aria-hidden="true">
          {t("conv.drop")}
        </div>
      )}
      <header class="conv-head">
        <button type="button" class="icon-button back" aria-label={t("conv.back")} onClick={() => navigate("/")}>
          <span aria-hidden="true">‹</span>
        </button>
        <Avatar title={title} photo={e.chat.photo_url} id={e.chat.id} />
        <div>
          <h2 dir="auto">{title}</h2>
          <p class="subtitle" aria-live="polite">
            {typingNames.length ? t("conv.typing", { name: typingNames.join("، ") }) : ""}
          </p>
        </div>
        <a class="details-link" href={`/chats/${e.chat.id}/info`} onClick={(ev) => { ev.preventDefault(); navigate(`/chats/${e.chat.id}/info`); }}>
          {t("groups.details")}
        </a>
        <CallButtons chat={e.chat} name={title} />
      </header>
      <div class="log" role="log" aria-label={t("conv.messages")} ref={log} onScroll={() => void onScroll()} tabIndex={0}>
        {start === 0 && !e.hasOlder && e.loaded && <p class="hint">{t("conv.beginning")}</p>}
        {loadingOlder && <p class="hint">{t("conv.loadingOlder")}</p>}
        {rows}
        {below === 0 &&
          e.pending.map((p) => <PendingBubble key={p.client_id} p={p} onRetry={() => actions.retry(chatId, p.client_id)} />)}
      </div>
      {(away || below > 0) && (
        <button type="button" class="jump-latest" onClick={jumpToLatest}>
          {t("conv.jumpLatest")}
        </button>
      )}
      {forwarding && (
        <ForwardPicker
          message={forwarding}
          onClose={() => setForwarding(null)}
          onPick={(to) => {
            actions.forward(forwarding, to);
            setForwarding(null);
            navigate(`/chats/${to}`);
          }}
        />
      )}
      <Composer
        replyTo={replyTo}
        replyName={(replyTo?.sender_id && state.names[replyTo.sender_id]) || ""}
        editing={editing}
        onSend={send}
        onFiles={sendFiles}
        onTyping={() => actions.typing(chatId)}
        onCancel={() => {
          setReplyTo(null);
          setEditing(null);
        }}
      />
    </main>
  );
}
