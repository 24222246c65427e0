import { useRef } from "preact/hooks";
import { t } from "../i18n";

export function OfflineBanner({ online }: { online: boolean }) {
  const wasOnline = useRef(false);
  if (online) wasOnline.current = true;
  return (
    <div role="status" class={online ? "banner hidden" : "banner"}>
      {online ? "" : wasOnline.current ? t("status.offline") : t("status.connecting")}
    </div>
  );
}
