// Settings beyond language and theme: name and status, who can add me to groups, the default
// disappearing timer, blocked users and the devices signed in (sessions).
import { useEffect, useState } from "preact/hooks";
import { day, t, time } from "../../i18n";
import { useStore } from "../../state/hooks";
import { endDevice, loadProfile, saveProfile, setMyPhoto, unblock, useScreens } from "../../state/screens";
import { Avatar } from "../Avatar";
import { PhotoPicker } from "./PhotoPicker";
import { ErrorLine, Link, TimerSelect } from "./common";

function when(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  return `${day(d)} ${time(d)}`;
}

export function ProfileSettings() {
  const s = useScreens();
  const names = useStore().names;
  useEffect(() => void loadProfile(), []);
  const [name, setName] = useState<string | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const me = s.me;
  if (!me) return <ErrorLine />;
  return (
    <div class="stack">
      <section aria-labelledby="profile-h">
        <h2 id="profile-h">{t("settings.profile")}</h2>
        <div class="photo-row">
          <Avatar title={me.name} photo={me.photo_url} id={me.id} />
          <PhotoPicker id="profile-photo" label={t("settings.photo")} disabled={s.busy} onPick={(f) => void setMyPhoto(f)} />
        </div>
        <form
          class="stack"
          onSubmit={(e) => {
            e.preventDefault();
            void saveProfile({ name: name ?? me.name, status: status ?? me.status ?? "" });
          }}
        >
          <label for="profile-name">{t("settings.name")}</label>
          <input id="profile-name" dir="auto" required value={name ?? me.name} onInput={(e) => setName(e.currentTarget.value)} />
          <label for="profile-status">{t("settings.status")}</label>
          <input id="profile-status" dir="auto" value={status ?? me.status ?? ""} onInput={(e) => setStatus(e.currentTarget.value)} />
          <button type="submit" disabled={s.busy}>
            {t("settings.save")}
          </button>
        </form>
      </section>
      <section aria-labelledby="privacy-h">
        <h2 id="privacy-h">{t("settings.privacy")}</h2>
        <label for="group-adds">{t("settings.groupAdds")}</label>{" "}
        <select
          id="group-adds"
          value={me.group_adds}
          onChange={(e) => void saveProfile({ group_adds: e.currentTarget.value as "everyone" | "contacts" })}
        >
          <option value="everyone">{t("settings.groupAddsEveryone")}</option>
          <option value="contacts">{t("settings.groupAddsContacts")}</option>
        </select>
        <p>
          <label for="default-timer">{t("settings.defaultTimer")}</label>{" "}
          <TimerSelect id="default-timer" value={me.default_message_ttl} onChange={(v) => void saveProfile({ default_message_ttl: v })} />
        </p>
        <p>
          <Link to="/privacy">{t("privacy.open")}</Link> · <Link to="/admin">{t("admin.open")}</Link>
        </p>
      </section>
      <ErrorLine />
      <section aria-labelledby="blocked-h">
        <h2 id="blocked-h">{t("settings.blocked")}</h2>
        {s.blocks.length === 0 ? (
          <p class="hint">{t("settings.noBlocked")}</p>
        ) : (
          <ul class="rows">
            {s.blocks.map((b) => {
              const who = b.name || names[b.user_id] || t("groups.user", { id: b.user_id });
              return (
                <li>
                  <span dir="auto">{who}</span>{" "}
                  <button type="button" aria-label={t("settings.unblockName", { name: who })} onClick={() => void unblock(b.user_id)}>
                    {t("settings.unblock")}
                  </button>
                </li>
              );
            })}
          </ul>
        )}
      </section>
      <section aria-labelledby="sessions-h">
        <h2 id="sessions-h">{t("settings.sessions")}</h2>
        <table class="sessions">
          <thead>
            <tr>
              <th scope="col">{t("settings.device")}</th>
              <th scope="col">{t("settings.app")}</th>
              <th scope="col">{t("settings.lastActive")}</th>
              <th scope="col">{t("settings.lastAddress")}</th>
              <th scope="col"><span class="sr-only">{t("settings.actions")}</span></th>
            </tr>
          </thead>
          <tbody>
            {s.devices.map((d) => (
              <tr>
                <td dir="auto">{d.model} · {d.os}</td>
                <td dir="auto">{d.app_version}</td>
                <td>{when(d.last_active_at)}</td>
                <td dir="ltr">{d.last_ip ?? "—"}</td>
                <td>
                  {d.current ? (
                    t("settings.thisDevice")
                  ) : (
                    <button type="button" aria-label={t("settings.endName", { name: `${d.model} ${d.os}` })} onClick={() => void endDevice(d.id)}>
                      {t("settings.end")}
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </div>
  );
}
