import { useEffect, useRef, useState } from "preact/hooks";
import type { Message } from "../api/types";
import { t } from "../i18n";
import { Icon } from "./Icon";

export interface ComposerProps {
  replyTo: Message | null;
  replyName: string;
  editing: Message | null;
  onSend(text: string): void;
  onFiles(files: File[]): void;
  onTyping(): void;
  onCancel(): void;
}

export function Composer(p: ComposerProps) {
  const [text, setText] = useState("");
  const box = useRef<HTMLTextAreaElement>(null);
  useEffect(() => {
    if (p.editing) setText(p.editing.text ?? "");
    box.current?.focus();
  }, [p.editing, p.replyTo]);

  const submit = (e?: Event) => {
    e?.preventDefault();
    const value = text.trim();
    if (!value) return;
    p.onSend(value);
    setText("");
  };

  return (
    <form class="composer" onSubmit={submit}>
      {(p.replyTo || p.editing) && (
        <div class="composer-context">
          <span dir="auto">
            {p.editing ? t("conv.editing") : t("conv.replyingTo", { name: p.replyName })}
            {p.replyTo && <span class="quote-text"> {p.replyTo.text}</span>}
          </span>
          <button
            type="button"
            class="link-button"
            onClick={() => {
              setText("");
              p.onCancel();
            }}
          >
            {t("conv.cancel")}
          </button>
        </div>
      )}
      <div class="composer-row">
        <label for="composer" class="sr-only">
          {t("conv.message")}
        </label>
        <input
          id="attach"
          type="file"
          hidden
          multiple
          aria-label={t("conv.attach")}
          onChange={(e) => {
            const files = [...(e.currentTarget.files ?? [])];
            e.currentTarget.value = "";
            if (files.length) p.onFiles(files);
          }}
        />
        <button
          type="button"
          class="icon-button attach"
          aria-label={t("conv.attach")}
          title={t("conv.attach")}
          onClick={() => document.getElementById("attach")?.click()}
        >
          <Icon name="clip" />
        </button>
        <textarea
          id="composer"
          ref={box}
          rows={1}
          dir="auto"
          placeholder={t("conv.message")}
          value={text}
          onInput={(e) => {
            setText(e.currentTarget.value);
            p.onTyping();
          }}
          onPaste={(e) => {
            const files = [...(e.clipboardData?.files ?? [])];
            if (files.length) {
              e.preventDefault();
              p.onFiles(files);
            }
          }}
          onKeyDown={(e) => {
            if (e.key === "Enter" && !e.shiftKey && !e.isComposing) submit(e);
            if (e.key === "Escape" && (p.replyTo || p.editing)) {
              setText("");
              p.onCancel();
            }
          }}
        />
        <button type="submit">{p.editing ? t("conv.save") : t("conv.send")}</button>
      </div>
    </form>
  );
}
