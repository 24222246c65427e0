// The receipt of a deleted account, shown after the session is gone (and downloadable); it is
// small and in the first load, since the privacy centre's chunk may be all that is left.
import { t } from "../../i18n";
import { receiptFile, useScreens } from "../../state/screens";
import { saveFile } from "./common";

export function Receipt() {
  const s = useScreens();
  if (!s.receipt) return null;
  return (
    <main class="pane page">
      <h1>{t("privacy.deleted")}</h1>
      <p dir="auto">{s.receipt.note}</p>
      <pre class="receipt" dir="ltr" tabIndex={0} aria-label={t("privacy.receipt")}>
        {JSON.stringify(s.receipt, null, 2)}
      </pre>
      <button type="button" onClick={() => saveFile(receiptFile(s.receipt!), `payam-receipt-${s.receipt!.receipt_id}.json`)}>
        {t("privacy.downloadReceipt")}
      </button>
    </main>
  );
}
