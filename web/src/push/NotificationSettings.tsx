// The notifications section of Settings: on or off for this device, and whether they may show
// the sender and the text (which this browser then fetches itself: the push carries none).
import { useEffect, useState } from "preact/hooks";
import { lang, t } from "../i18n";
import * as push from "./client";

export function NotificationSettings() {
  const [status, setStatus] = useState<push.PushStatus>(push.status());
  const [content, setContent] = useState(push.showsContent());
  const [failed, setFailed] = useState(false);
  const [busy, setBusy] = useState(false);
  const current = lang();
  useEffect(() => {
    void push.writePrefs().catch(() => undefined); // the notification's words follow the language
  }, [current]);

  const toggle = async (on: boolean) => {
    setBusy(true);
    setFailed(false);
    try {
      setStatus(await push.setEnabled(on));
    } catch (err) {
      console.warn("push", err);
      setFailed(true);
      setStatus(push.status());
    } finally {
      setBusy(false);
    }
  };

  return (
    <fieldset class="push-settings">
      <legend>{t("push.title")}</legend>
      {status === "unsupported" ? (
        <p>{t("push.unsupported")}</p>
      ) : (
        <>
          <label class="radio">
            <input
              type="checkbox"
              checked={status === "on"}
              disabled={busy || status === "denied"}
              onChange={(e) => void toggle(e.currentTarget.checked)}
            />
            {t("push.enable")}
          </label>
          <label class="radio">
            <input
              type="checkbox"
              checked={content}
              onChange={(e) => {
                const on = e.currentTarget.checked;
                setContent(on);
                void push.setShowContent(on);
              }}
            />
            {t("push.showContent")}
          </label>
          <p class="hint-text">{t("push.showContentHint")}</p>
          {status === "denied" && <p class="error">{t("push.denied")}</p>}
          {failed && (
            <p class="error" role="alert">
              {t("push.failed")}
            </p>
          )}
        </>
      )}
    </fieldset>
  );
}
