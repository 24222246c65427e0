// The call screen: who, the state (ringing, calling, connecting, the timer), the videos, and
// the controls (accept and decline while it rings; mute, camera, sound output, hang up).
import { useEffect, useRef, useState } from "preact/hooks";
import { type Key, t } from "../i18n";
import { useStore } from "../state/hooks";
import { Avatar } from "../views/Avatar";
import { chatTitle } from "../views/names";
import * as engine from "./engine";
import { useCall } from "./index";
import { clock } from "./record";

const OUTCOMES: Record<string, Key> = {
  declined: "call.outcome.declined",
  busy: "call.outcome.busy",
  missed: "call.outcome.noAnswer",
  failed: "call.outcome.failed",
  offline: "call.outcome.offline",
  no_media: "call.outcome.noMedia",
  blocked: "call.outcome.blocked",
};

function Video({ stream, muted, label }: { stream: MediaStream | null; muted: boolean; label: string }) {
  const el = useRef<HTMLVideoElement>(null);
  useEffect(() => {
    if (el.current && el.current.srcObject !== stream) el.current.srcObject = stream;
  });
  return <video ref={el} autoplay playsInline muted={muted} aria-label={label} />;
}

export function CallScreen() {
  const call = useCall();
  const state = useStore();
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);
  const accept = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (call?.phase === "incoming") accept.current?.focus();
  }, [call?.phase]);
  if (!call) return null;

  const chat = state.chats[call.chatId]?.chat;
  const name =
    (call.peerId && state.names[call.peerId]) || (chat ? chatTitle(chat, state.names) : "") || "…";
  const { local, remote } = engine.streams();
  const status =
    call.phase === "incoming"
      ? t(call.video ? "call.incomingVideo" : "call.incoming")
      : call.phase === "outgoing"
        ? t("call.calling")
        : call.phase === "connecting"
          ? t("call.connecting")
          : call.phase === "connected"
            ? clock((now - (call.connectedAt ?? now)) / 1000)
            : call.outcome && OUTCOMES[call.outcome]
              ? t(OUTCOMES[call.outcome])
              : t("call.ended");
  const inCall = call.phase === "outgoing" || call.phase === "connecting" || call.phase === "connected";

  return (
    <div
      class={"call-screen " + call.phase + (call.remoteVideo ? " with-video" : "")}
      role="dialog"
      aria-modal="true"
      aria-label={t("call.screen", { name })}
      data-phase={call.phase}
    >
      <div class="call-stage">
        {call.remoteVideo && <Video stream={remote} muted={true} label={name} />}
        {!call.remoteVideo && (
          <div class="call-who">
            <Avatar title={name} photo={chat?.photo_url ?? null} id={call.chatId} />
          </div>
        )}
        {call.cameraOn && inCall && (
          <div class="call-self">
            <Video stream={local} muted={true} label={t("call.cameraOff")} />
          </div>
        )}
      </div>
      <h2 class="call-name" dir="auto">
        {name}
      </h2>
      <p class="call-status" role="status" aria-live="polite">
        {call.phase === "connected" ? (
          <time class="call-timer" aria-label={t("call.duration")}>
            {status}
          </time>
        ) : (
          status
        )}
      </p>
      <div class="call-controls">
        {call.phase === "incoming" && (
          <>
            <button type="button" class="call-decline" onClick={() => engine.decline()}>
              {t("call.decline")}
            </button>
            <button type="button" class="call-accept" ref={accept} onClick={() => void engine.accept()}>
              {t("call.accept")}
            </button>
          </>
        )}
        {inCall && (
          <>
            <button type="button" class="call-toggle" aria-pressed={call.muted} onClick={() => engine.toggleMute()}>
              {t(call.muted ? "call.unmute" : "call.mute")}
            </button>
            <button
              type="button"
              class="call-toggle"
              aria-pressed={call.cameraOn}
              disabled={call.phase !== "connected"}
              onClick={() => void engine.toggleCamera()}
            >
              {t(call.cameraOn ? "call.cameraOff" : "call.cameraOn")}
            </button>
            {call.outputs.length > 1 && (
              <label class="call-output">
                <span>{t("call.speaker")}</span>
                <select value={call.sinkId} onChange={(e) => void engine.chooseOutput(e.currentTarget.value)}>
                  {call.outputs.map((o) => (
                    <option value={o.id}>{o.label}</option>
                  ))}
                </select>
              </label>
            )}
            <button type="button" class="call-hangup" onClick={() => engine.hangup()}>
              {t("call.hangup")}
            </button>
          </>
        )}
      </div>
    </div>
  );
}
