// The operator console (loaded on first use): look a user up (the read is recorded for them,
// P11.1), suspend and restore, the reports queue, and the audit trail of those reads. Anyone not an operator sees the API's
// refusal in words.
import { useEffect, useState } from "preact/hooks";
import { day, num, t, time } from "../../i18n";
import { loadAudit, loadReports, lookUp, resolveReport, setSuspended, useScreens } from "../../state/screens";
import { ErrorLine } from "./common";

const STATUSES = ["open", "resolved", "dismissed"] as const;

function when(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  return `${day(d)} ${time(d)}`;
}

const ACTIONS = ["lookup", "suspend", "unsuspend", "report_view"] as const;
type Action = (typeof ACTIONS)[number];

// The server's action names in words; one this client does not know is shown as it is.
function actionName(action: string): string {
  const known = ACTIONS.find((a): a is Action => a === action);
  return known ? t(`admin.action.${known}`) : action;
}

export function AdminConsole() {
  const s = useScreens();
  const [query, setQuery] = useState("");
  const [status, setStatus] = useState<string>("open");
  useEffect(() => void loadReports(status), [status]);
  useEffect(() => void loadAudit(), []);
  const u = s.operator;
  return (
    <main class="pane page admin">
      <h1>{t("admin.title")}</h1>
      <p class="hint">{t("admin.recorded")}</p>
      <ErrorLine />
      <form
        role="search"
        class="inline-form"
        onSubmit={(e) => {
          e.preventDefault();
          void lookUp(query).then(() => loadAudit());
        }}
      >
        <label for="admin-q">{t("admin.lookUp")}</label>
        <input id="admin-q" dir="ltr" required value={query} onInput={(e) => setQuery(e.currentTarget.value)} />
        <button type="submit">{t("admin.find")}</button>
      </form>
      {u && (
        <section aria-labelledby="user-h" class="card">
          <h2 id="user-h" dir="auto">{u.name}</h2>
          <dl>
            <dt>{t("admin.id")}</dt><dd>{num(u.id)}</dd>
            <dt>{t("admin.phone")}</dt><dd dir="ltr">{u.phone}</dd>
            <dt>{t("admin.created")}</dt><dd>{when(u.created_at)}</dd>
            <dt>{t("admin.contacts")}</dt><dd>{num(u.contacts_count)}</dd>
            <dt>{t("admin.state")}</dt><dd>{u.suspended ? t("admin.suspended") : t("admin.active")}</dd>
          </dl>
          <ul class="rows" aria-label={t("admin.devices")}>
            {u.devices.map((d) => (
              <li dir="auto">{d.model} · {d.os} · {d.app_version} · {when(d.last_active_at)}</li>
            ))}
          </ul>
          <button
            type="button"
            class={u.suspended ? "" : "danger"}
            onClick={() => void setSuspended(u.id, !u.suspended).then(() => loadAudit())}
          >
            {u.suspended ? t("admin.restore") : t("admin.suspend")}
          </button>
        </section>
      )}
      <section aria-labelledby="reports-h">
        <h2 id="reports-h">{t("admin.reports")}</h2>
        <label for="report-status">{t("admin.status")}</label>{" "}
        <select id="report-status" value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
          {STATUSES.map((st) => (
            <option value={st}>{t(`admin.status.${st}`)}</option>
          ))}
        </select>
        {s.reports.length === 0 && <p class="hint">{t("admin.noReports")}</p>}
        <ul class="rows">
          {s.reports.map((r) => (
            <li>
              <span>{when(r.created_at)}</span> <span dir="auto">{r.reason ?? ""}</span>{" "}
              <q dir="auto">{r.message_text ?? t("chats.deleted")}</q>
              {r.status === "open" && (
                <>
                  {" "}
                  <button type="button" onClick={() => void resolveReport(r.id, "resolved", status)}>{t("admin.resolve")}</button>{" "}
                  <button type="button" onClick={() => void resolveReport(r.id, "dismissed", status)}>{t("admin.dismiss")}</button>
                </>
              )}
            </li>
          ))}
        </ul>
      </section>
      <section aria-labelledby="audit-h">
        <h2 id="audit-h">{t("admin.audit")}</h2>
        <p class="hint">{t("admin.auditHint")}</p>
        <button type="button" onClick={() => void loadAudit()}>{t("admin.auditRefresh")}</button>
        {s.audit.length === 0 ? (
          <p class="hint">{t("admin.auditEmpty")}</p>
        ) : (
          <table aria-labelledby="audit-h">
            <thead>
              <tr>
                <th scope="col">{t("admin.auditTime")}</th>
                <th scope="col">{t("admin.auditOperator")}</th>
                <th scope="col">{t("admin.auditUser")}</th>
                <th scope="col">{t("admin.auditAction")}</th>
              </tr>
            </thead>
            <tbody>
              {s.audit.map((e) => (
                <tr key={e.id}>
                  <td>{when(e.at)}</td>
                  <td>{e.admin_id === null ? "—" : num(e.admin_id)}</td>
                  <td>{num(e.subject_id)}</td>
                  <td>{actionName(e.action)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {s.auditBefore !== null && (
          <button type="button" onClick={() => void loadAudit(true)}>{t("admin.auditOlder")}</button>
        )}
      </section>
    </main>
  );
}
