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
        <span aria-hidden="true">📞</span>
      </button>
      <button
        type="button"
        class="icon-button"
        aria-label={t("call.startVideo", { name })}
        title={t("call.video")}
        disabled={busy}
        onClick={() => startCall(chat.id, true)}
      >
        <span aria-hidden="true">🎥</span>
      </button>
    </div>
  );
}
