import { useState } from "preact/hooks";
import type { Media, Message } from "../api/types";
import { num, t, time } from "../i18n";
import type { Pending } from "../state/store";
import { Icon } from "./Icon";
import { RichText } from "./RichText";
import { callSummary, isMissed } from "../calls/record";

export interface BubbleProps {
  message: Message;
  mine: boolean;
  sender: string;
  showSender: boolean;
  replied?: Message;
  repliedSender?: string;
  read: boolean;
  me?: number;
  forwardedFrom?: string;
  onReply(m: Message): void;
  onForward(m: Message): void;
  onEdit(m: Message): void;
  onDelete(m: Message, forEveryone: boolean): void;
}

export function MessageBubble(p: BubbleProps) {
  const [open, setOpen] = useState(false);
  const m = p.message;
  const stamp = m.created_at ? time(new Date(m.created_at)) : "";
  const status = p.mine && !m.deleted ? (p.read ? t("conv.read") : t("conv.sent")) : "";
  return (
    <div class={p.mine ? "msg mine" : "msg"} data-seq={m.seq} data-id={m.id}>
      <div class="bubble">
        {p.showSender && !p.mine && (
          <div class="sender" dir="auto">
            {p.sender}
          </div>
        )}
        {m.forward_of && !m.deleted && (
          <div class="forwarded" dir="auto">
            {p.forwardedFrom ? t("conv.forwardedFrom", { name: p.forwardedFrom }) : t("conv.forwarded")}
          </div>
        )}
        {p.replied && (
          <div class="quote" dir="auto">
            <span class="quote-name">{p.repliedSender}</span>
            <span class="quote-text">{p.replied.deleted ? t("conv.deleted") : p.replied.text}</span>
          </div>
        )}
        {!m.deleted && m.media?.map((item) => <MediaView key={item.id} media={item} />)}
        {m.deleted ? (
          <p class="text deleted">{t("conv.deleted")}</p>
        ) : m.call ? (
          <p class={isMissed(m, p.me) ? "text call-record missed" : "text call-record"}>
            {callSummary(m, p.me)}
          </p>
        ) : (
          m.text && (
            <p class="text" dir="auto">
              <RichText text={m.text} />
            </p>
          )
        )}
        <div class="meta">
          {m.edited && !m.deleted && <span class="edited">{t("conv.edited")}</span>}
          <time dateTime={m.created_at ?? undefined}>{stamp}</time>
          {status && (
            <span class={p.read ? "ticks read" : "ticks"} title={status}>
              <span aria-hidden="true">{p.read ? "✓✓" : "✓"}</span>
              <span class="sr-only">{status}</span>
            </span>
          )}
        </div>
      </div>
      {!m.deleted && (
        <div class="actions">
          <button
            type="button"
            class="icon-button"
            aria-expanded={open}
            aria-label={t("conv.actions")}
            onClick={() => setOpen(!open)}
          >
            ⋯
          </button>
          {open && (
            <div class="menu">
              <button type="button" onClick={() => (setOpen(false), p.onReply(m))}>
                {t("conv.reply")}
              </button>
              {!m.call && (
                <button type="button" onClick={() => (setOpen(false), p.onForward(m))}>
                  {t("conv.forward")}
                </button>
              )}
              {p.mine && (
                <button type="button" onClick={() => (setOpen(false), p.onEdit(m))}>
                  {t("conv.edit")}
                </button>
              )}
              <button type="button" onClick={() => (setOpen(false), p.onDelete(m, false))}>
                {t("conv.deleteForMe")}
              </button>
              {p.mine && (
                <button type="button" onClick={() => (setOpen(false), p.onDelete(m, true))}>
                  {t("conv.deleteForEveryone")}
                </button>
              )}
            </div>
          )}
        </div>
      )}
    </div>
  );
}

/** A file in a message: images as thumbnails opening the full image, players for video and
 * audio, anything else a download link. All from this origin, with the session cookie. */
export function MediaView({ media }: { media: Media }) {
  if (media.kind === "image") {
    return (
      <a class="media" href={media.url} target="_blank" rel="noopener noreferrer">
        <img
          src={media.thumbnail_url ?? media.url}
          alt={t("conv.image")}
          width={media.width ?? undefined}
          height={media.height ?? undefined}
          loading="lazy"
        />
      </a>
    );
  }
  if (media.kind === "video") return <video class="media" controls preload="metadata" src={media.url} aria-label={t("conv.video")} />;
  if (media.kind === "audio") return <audio controls preload="metadata" src={media.url} aria-label={t("conv.audio")} />;
  return (
    <a class="file" href={media.url} download>
      {t("conv.file", { size: Math.max(1, Math.round(media.size / 1024)) })}
    </a>
  );
}

export function PendingBubble({ p, onRetry }: { p: Pending; onRetry(): void }) {
  const label = p.status === "failed" ? t("conv.failed") : t("conv.sending");
  const percent = Math.round((p.file?.progress ?? 0) * 100);
  return (
    <div class="msg mine pending" data-client-id={p.client_id}>
      <div class="bubble">
        {p.forward_of && <div class="forwarded">{t("conv.forwarded")}</div>}
        {p.file?.preview && <img class="media preview" src={p.file.preview} alt={t("conv.image")} />}
        {p.file && !p.file.preview && <span class="file">{p.file.name}</span>}
        {p.status === "uploading" && (
          <progress max={100} value={percent} aria-label={t("conv.uploading", { percent })}>
            {num(percent)}
          </progress>
        )}
        {p.text && (
          <p class="text" dir="auto">
            <RichText text={p.text} />
          </p>
        )}
        <div class="meta">
          <time dateTime={p.created_at}>{time(new Date(p.created_at))}</time>
          <span class="ticks" title={label}>
            {p.status === "failed" ? <span aria-hidden="true">!</span> : <Icon name="clock" />}
            <span class="sr-only">{label}</span>
          </span>
          {p.status === "failed" && (
            <button type="button" class="link-button" onClick={onRetry}>
              {t("conv.retry")}
            </button>
          )}
        </div>
      </div>
    </div>
  );
}
