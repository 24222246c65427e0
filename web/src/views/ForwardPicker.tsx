import { useEffect, useRef, useState } from "preact/hooks";
import type { Message } from "../api/types";
import { t } from "../i18n";
import { useStore } from "../state/hooks";
import { forwardTargets, store } from "../state/store";
import { Avatar } from "./Avatar";
import { chatTitle } from "./names";

/** The chat picker of "Forward": a modal dialog listing the chats the message may go to, each a
 * button named by the chat's title, with a filter. */
export function ForwardPicker({ message, onPick, onClose }: { message: Message; onPick(chatId: number): void; onClose(): void }) {
  const state = useStore();
  const [filter, setFilter] = useState("");
  const dialog = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const el = dialog.current;
    if (el && !el.open) el.showModal?.();
    return () => el?.close?.();
  }, []);
  const needle = filter.trim().toLowerCase();
  const targets = forwardTargets(store.orderedChats(), state.me?.id)
    .map((e) => ({ id: e.chat.id, chat: e.chat, title: chatTitle(e.chat, state.names) }))
    .filter((x) => !needle || x.title.toLowerCase().includes(needle));
  return (
    <dialog
      class="forward-picker"
      ref={dialog}
      aria-labelledby="forward-title"
      onClose={onClose}
      onCancel={(ev) => {
        ev.preventDefault();
        onClose();
      }}
    >
      <h2 id="forward-title">{t("conv.forwardTo")}</h2>
      {message.text && (
        <p class="hint forward-preview" dir="auto">
          {message.text}
        </p>
      )}
      <input
        type="search"
        dir="auto"
        aria-label={t("conv.forwardFilter")}
        placeholder={t("conv.forwardFilter")}
        value={filter}
        onInput={(ev) => setFilter((ev.target as HTMLInputElement).value)}
      />
      {targets.length === 0 ? (
        <p class="hint">{t("conv.forwardNone")}</p>
      ) : (
        <ul class="forward-list" aria-label={t("conv.forwardChats")}>
          {targets.map((x) => (
            <li key={x.id}>
              <button type="button" class="forward-target" onClick={() => onPick(x.id)}>
                <Avatar title={x.title} photo={x.chat.photo_url} id={x.id} />
                <span dir="auto">{x.title}</span>
              </button>
            </li>
          ))}
        </ul>
      )}
      <button type="button" class="link-button" onClick={onClose}>
        {t("conv.cancel")}
      </button>
    </dialog>
  );
}
