// The call buttons in a direct chat's header (voice and video).
import type { Chat } from "../api/types";
import { t } from "../i18n";
import { startCall, useCall } from "./index";

export function CallButtons({ chat, name }: { chat: Chat; name: string }) {
  const call = useCall();
  if (chat.type !== "direct") return null;
  const busy = call !== null && call.phase !== "ended";
  return (
    <div class="call-buttons">
      <button
        type="button"
        class="icon-button"
        aria-label={t("call.startVoice", { name })}
        title={t("call.voice")}
        disabled={busy}
        onClick={() => startCall(chat.id, false)}
      >
        <svg aria-hidden="true" viewBox="0 0 24 24" width="20" height="20">
          <path
            fill="currentColor"
            d="M6.6 10.8a15.1 15.1 0 0 0 6.6 6.6l2.2-2.2c.3-.3.7-.4 1-.2 1.1.4 2.3.6 3.6.6.6 0 1 .4 1 1V20c0 .6-.4 1-1 1C10.6 21 3 13.4 3 4c0-.6.4-1 1-1h3.5c.6 0 1 .4 1 1 0 1.3.2 2.5.6 3.6.1.3 0 .7-.2 1z"
          />
        </svg>
      </button>
      <button
        type="button"
        class="icon-button"
        aria-label={t("call.startVideo", { name })}
        title={t("call.video")}
        disabled={busy}
        onClick={() => startCall(chat.id, true)}
      >
        <svg aria-hidden="true" viewBox="0 0 24 24" width="20" height="20">
          <path fill="currentColor" d="M17 10.5V7c0-.6-.4-1-1-1H4c-.6 0-1 .4-1 1v10c0 .6.4 1 1 1h12c.6 0 1-.4 1-1v-3.5l4 4v-11z" />
        </svg>
      </button>
    </div>
  );
}
