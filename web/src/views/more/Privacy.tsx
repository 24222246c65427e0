// The privacy centre (loaded on first use): consents by cookie category, notices to
// acknowledge, partners to object to, what was disclosed, the export with progress, a new
// number, and deleting the account with a fresh code (the receipt shown and downloadable).
import { useEffect, useState } from "preact/hooks";
import { hasKey, t } from "../../i18n";
import {
  acknowledge,
  changePhone,
  eraseAccount,
  exportData,
  loadPrivacy,
  objectToPartner,
  percent,
  sendErasureCode,
  sendPhoneCode,
  setConsent,
  useScreens,
} from "../../state/screens";
import { ErrorLine, saveFile } from "./common";

function detailsOf(n: { kind?: string; [k: string]: unknown }): Record<string, unknown> {
  const d = n.kind ? n[n.kind] : null;
  return d && typeof d === "object" ? (d as Record<string, unknown>) : {};
}

export function PrivacyCentre() {
  const s = useScreens();
  useEffect(() => void loadPrivacy(), []);
  const [phone, setPhone] = useState("");
  const [code, setCode] = useState("");
  const [mode, setMode] = useState<"none" | "phone" | "delete">("none");
  const progress = s.exportProgress;
  const pct = progress ? percent(progress.read, progress.total) : null;
  return (
    <main class="pane page privacy">
      <h1>{t("privacy.title")}</h1>
      <ErrorLine />
      <section aria-labelledby="consents-h">
        <h2 id="consents-h">{t("privacy.consents")}</h2>
        {s.consents.map((c) => (
          <div class="consent">
            <label class="radio">
              <input type="checkbox" checked={c.granted} disabled={!c.optional} onChange={(e) => void setConsent(c.name, e.currentTarget.checked)} />
              <strong>{hasKey(`privacy.cat.${c.name}`) ? t(`privacy.cat.${c.name}` as "privacy.cat.essential") : c.name}</strong>
            </label>
            <p class="small" dir="auto">{c.purpose}</p>
            {c.cookies.length > 0 && <p class="small" dir="ltr">{c.cookies.join(", ")}</p>}
          </div>
        ))}
      </section>
      <section aria-labelledby="notices-h">
        <h2 id="notices-h">{t("privacy.notices")}</h2>
        {s.notices.length === 0 && <p class="hint">{t("privacy.noNotices")}</p>}
        <ul class="rows">
          {s.notices.map((n) => {
            const d = detailsOf(n);
            const label = String(d.title ?? d.name ?? d.summary ?? d.version ?? n.kind ?? "");
            const partner = n.kind === "partner" ? (d.partner_id ?? d.id) : undefined;
            return (
              <li>
                <span dir="auto">{t("privacy.noticeKind", { kind: String(n.kind ?? "") })}: {label}</span>{" "}
                {typeof d.purpose === "string" && <small dir="auto">{d.purpose}</small>}{" "}
                {n.acknowledged_at ? (
                  <small>{t("privacy.acknowledged")}</small>
                ) : (
                  <button type="button" onClick={() => void acknowledge(n.id)}>
                    {t("privacy.acknowledge")}
                  </button>
                )}{" "}
                {partner !== undefined && (
                  <button type="button" onClick={() => void objectToPartner(partner as number)}>
                    {t("privacy.object")}
                  </button>
                )}
              </li>
            );
          })}
        </ul>
      </section>
      <section aria-labelledby="disclosures-h">
        <h2 id="disclosures-h">{t("privacy.disclosures")}</h2>
        {(s.disclosures?.disclosures ?? []).length === 0 ? (
          <p class="hint">{t("privacy.noDisclosures")}</p>
        ) : (
          <ul class="rows">
            {s.disclosures!.disclosures.map((d) => (
              <li dir="auto">
                {t("privacy.disclosure", { partner: d.partner, rows: d.row_count, fields: d.fields.join(", ") })}
              </li>
            ))}
          </ul>
        )}
      </section>
      <section aria-labelledby="export-h">
        <h2 id="export-h">{t("privacy.export")}</h2>
        <button type="button" disabled={!!progress && !progress.done} onClick={() => void exportData(saveFile)}>
          {t("privacy.download")}
        </button>
        {progress && (
          <p role="status">
            {progress.done
              ? t("privacy.exportDone", { kb: Math.ceil(progress.read / 1024) })
              : pct === null
                ? t("privacy.exportBytes", { kb: Math.ceil(progress.read / 1024) })
                : t("privacy.exportPercent", { pct })}
            {pct !== null && !progress.done && <progress max={100} value={pct} aria-label={t("privacy.export")} />}
          </p>
        )}
      </section>
      <section aria-labelledby="account-h">
        <h2 id="account-h">{t("privacy.account")}</h2>
        <button type="button" aria-pressed={mode === "phone"} onClick={() => setMode("phone")}>{t("privacy.changeNumber")}</button>{" "}
        <button type="button" class="danger" aria-pressed={mode === "delete"} onClick={() => setMode("delete")}>{t("privacy.delete")}</button>
        {mode !== "none" && (
          <form
            class="stack"
            onSubmit={(e) => {
              e.preventDefault();
              if (!s.codeSentTo) void (mode === "phone" ? sendPhoneCode(phone) : sendErasureCode());
              else if (mode === "phone") void changePhone(phone, code).then((ok) => ok && setMode("none"));
              else void eraseAccount(code);
            }}
          >
            <p>{mode === "phone" ? t("privacy.changeIntro") : t("privacy.deleteIntro")}</p>
            {mode === "phone" && (
              <>
                <label for="acct-phone">{t("privacy.newNumber")}</label>
                <input id="acct-phone" dir="ltr" type="tel" required value={phone} onInput={(e) => setPhone(e.currentTarget.value)} />
              </>
            )}
            {s.codeSentTo && (
              <>
                <label for="acct-code">{t("signin.code")}</label>
                <input id="acct-code" dir="ltr" inputMode="numeric" autoComplete="one-time-code" required value={code} onInput={(e) => setCode(e.currentTarget.value)} />
              </>
            )}
            <button type="submit" class={mode === "delete" && s.codeSentTo ? "danger" : ""}>
              {!s.codeSentTo ? t("signin.sendCode") : mode === "phone" ? t("privacy.changeNumber") : t("privacy.deleteNow")}
            </button>
          </form>
        )}
      </section>
    </main>
  );
}
