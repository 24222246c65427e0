// Groups: a new group from the people you talk to, a chat's details (members, roles, title,
// invite links, mute, disappearing timer, leave and delete), joining by link, invitations.
import { useEffect, useState } from "preact/hooks";
import { t } from "../../i18n";
import { useStore } from "../../state/hooks";
import { navigate } from "../../state/route";
import {
  addMembers,
  answerInvitation,
  createGroup,
  createInvite,
  inviteUrl,
  joinByLink,
  leaveChat,
  loadChat,
  loadInvitations,
  loadInvites,
  removeMember,
  renameChat,
  revokeInvite,
  setChatPhoto,
  setChatTimer,
  setMuted,
  setRole,
  useScreens,
} from "../../state/screens";
import { Avatar } from "../Avatar";
import { chatTitle } from "../names";
import { PhotoPicker } from "./PhotoPicker";
import { ErrorLine, Link, TimerSelect } from "./common";

/** People the user has a direct chat with, by name: whom a group can be made from. */
function usePeople(exclude: number[] = []): [number, string][] {
  const s = useStore();
  const ids = new Set<number>();
  for (const e of Object.values(s.chats)) if (e.chat.peer_id) ids.add(e.chat.peer_id);
  return [...ids]
    .filter((id) => id !== s.me?.id && !exclude.includes(id))
    .map((id): [number, string] => [id, s.names[id] || t("groups.user", { id })])
    .sort((a, b) => a[1].localeCompare(b[1]));
}

function PeoplePicker(props: { people: [number, string][]; chosen: number[]; onChange: (ids: number[]) => void }) {
  if (props.people.length === 0) return <p class="hint">{t("groups.noPeople")}</p>;
  return (
    <fieldset>
      <legend>{t("groups.members")}</legend>
      {props.people.map(([id, name]) => (
        <label class="radio">
          <input
            type="checkbox"
            checked={props.chosen.includes(id)}
            onChange={(e) =>
              props.onChange(e.currentTarget.checked ? [...props.chosen, id] : props.chosen.filter((x) => x !== id))
            }
          />
          <span dir="auto">{name}</span>
        </label>
      ))}
    </fieldset>
  );
}

export function NewGroup() {
  const people = usePeople();
  const [title, setTitle] = useState("");
  const [chosen, setChosen] = useState<number[]>([]);
  const s = useScreens();
  return (
    <main class="pane page">
      <h1>{t("groups.new")}</h1>
      <form
        class="stack"
        onSubmit={(e) => {
          e.preventDefault();
          void createGroup(title, chosen).then((id) => id && navigate(`/chats/${id}`));
        }}
      >
        <label for="group-title">{t("groups.title")}</label>
        <input id="group-title" dir="auto" required maxLength={1024} value={title} onInput={(e) => setTitle(e.currentTarget.value)} />
        <PeoplePicker people={people} chosen={chosen} onChange={setChosen} />
        <button type="submit" disabled={s.busy || !title.trim()}>
          {t("groups.create")}
        </button>
        <ErrorLine />
      </form>
      <Invitations />
    </main>
  );
}

export function Invitations() {
  const s = useScreens();
  useEffect(() => void loadInvitations(), []);
  const names = useStore().names;
  return (
    <section aria-labelledby="invitations-h">
      <h2 id="invitations-h">{t("groups.invitations")}</h2>
      {s.invitations.length === 0 ? (
        <p class="hint">{t("groups.noInvitations")}</p>
      ) : (
        <ul class="rows">
          {s.invitations.map((inv) => (
            <li>
              <span dir="auto">{inv.title ?? t("groups.untitled")}</span>{" "}
              <small dir="auto">
                {t("groups.invitedBy", { name: names[inv.invited_by] || t("groups.user", { id: inv.invited_by }), count: inv.member_count })}
              </small>{" "}
              <button type="button" onClick={() => void answerInvitation(inv.id, true).then((id) => id && navigate(`/chats/${id}`))}>
                {t("groups.accept")}
              </button>{" "}
              <button type="button" onClick={() => void answerInvitation(inv.id, false)}>
                {t("groups.decline")}
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

export function JoinLink({ token }: { token: string }) {
  const s = useScreens();
  return (
    <main class="pane page">
      <h1>{t("groups.joinTitle")}</h1>
      <p>{t("groups.joinIntro")}</p>
      <button type="button" disabled={s.busy} onClick={() => void joinByLink(token).then((id) => id && navigate(`/chats/${id}`))}>
        {t("groups.join")}
      </button>
      <ErrorLine />
    </main>
  );
}

const ROLES = ["member", "admin"] as const;

export function ChatInfo({ chatId }: { chatId: number }) {
  const state = useStore();
  const s = useScreens();
  const entry = state.chats[chatId];
  const chat = entry?.chat as (typeof entry)["chat"] & { role?: string; message_ttl?: number | null };
  const meId = state.me?.id;
  const mine = chat?.members?.find((m) => m.user_id === meId)?.role ?? chat?.role;
  const admin = mine === "owner" || mine === "admin";
  const [title, setTitle] = useState(chat?.title ?? "");
  const [adding, setAdding] = useState<number[]>([]);
  const people = usePeople(chat?.members?.map((m) => m.user_id) ?? []);
  useEffect(() => void loadChat(chatId), [chatId]);
  useEffect(() => {
    if (admin && chat?.type === "group") void loadInvites(chatId);
  }, [admin, chatId]);
  if (!chat)
    return (
      <main class="pane page">
        <p>{t("groups.notFound")}</p>
      </main>
    );
  const name = (id: number) => (id === meId ? t("groups.you") : (state.names[id] || t("groups.user", { id })));
  return (
    <main class="pane page">
      <p>
        <Link to={`/chats/${chatId}`}>{t("groups.backToChat")}</Link>
      </p>
      <h1 dir="auto">{chatTitle(chat, state.names)}</h1>
      {chat.type === "group" && admin && (
        <form
          class="inline-form"
          onSubmit={(e) => {
            e.preventDefault();
            void renameChat(chatId, title);
          }}
        >
          <label for="rename">{t("groups.title")}</label>
          <input id="rename" dir="auto" maxLength={1024} value={title} onInput={(e) => setTitle(e.currentTarget.value)} />
          <button type="submit">{t("groups.rename")}</button>
        </form>
      )}
      {chat.type === "group" && admin && (
        <div class="photo-row">
          <Avatar title={chatTitle(chat, state.names)} photo={chat.photo_url} id={chat.id} />
          <PhotoPicker id="group-photo" label={t("groups.photo")} disabled={s.busy} onPick={(f) => void setChatPhoto(chatId, f)} />
        </div>
      )}
      <label class="radio">
        <input type="checkbox" checked={!!chat.muted} onChange={(e) => void setMuted(chatId, e.currentTarget.checked)} />
        {t("groups.mute")}
      </label>
      <p>
        <label for="chat-timer">{t("groups.timer")}</label>{" "}
        <TimerSelect id="chat-timer" value={chat.message_ttl} onChange={(v) => void setChatTimer(chatId, v)} />
      </p>
      {chat.type === "channel" && admin && (
        <p>
          <Link to={`/chats/${chatId}/stats`}>{t("stats.open")}</Link>
        </p>
      )}
      {chat.type === "group" && (
        <section aria-labelledby="members-h">
          <h2 id="members-h">{t("groups.membersCount", { count: chat.members?.length ?? 0 })}</h2>
          <ul class="rows">
            {(chat.members ?? []).map((m) => (
              <li>
                <span dir="auto">{name(m.user_id)}</span> <small>{t(`groups.role.${m.role}` as "groups.role.member")}</small>
                {mine === "owner" && m.role !== "owner" && (
                  <select
                    aria-label={t("groups.roleOf", { name: name(m.user_id) })}
                    value={m.role}
                    onChange={(e) => void setRole(chatId, m.user_id, e.currentTarget.value)}
                  >
                    {ROLES.map((r) => (
                      <option value={r}>{t(`groups.role.${r}`)}</option>
                    ))}
                  </select>
                )}
                {admin && m.role !== "owner" && m.user_id !== meId && (
                  <button type="button" aria-label={t("groups.removeName", { name: name(m.user_id) })} onClick={() => void removeMember(chatId, m.user_id)}>
                    {t("groups.remove")}
                  </button>
                )}
              </li>
            ))}
          </ul>
          {admin && (
            <form
              class="stack"
              onSubmit={(e) => {
                e.preventDefault();
                void addMembers(chatId, adding).then(() => setAdding([]));
              }}
            >
              <PeoplePicker people={people} chosen={adding} onChange={setAdding} />
              {people.length > 0 && (
                <button type="submit" disabled={adding.length === 0}>
                  {t("groups.add")}
                </button>
              )}
            </form>
          )}
        </section>
      )}
      {chat.type === "group" && admin && (
        <section aria-labelledby="links-h">
          <h2 id="links-h">{t("groups.links")}</h2>
          <ul class="rows">
            {(s.invites[chatId] ?? []).filter((l) => !l.revoked).map((l) => (
              <li>
                <input readOnly dir="ltr" aria-label={t("groups.link")} value={inviteUrl(l.token)} />
                <button type="button" onClick={() => void navigator.clipboard?.writeText(inviteUrl(l.token))}>
                  {t("groups.copy")}
                </button>
                <button type="button" onClick={() => void revokeInvite(chatId, l.token)}>
                  {t("groups.revoke")}
                </button>
              </li>
            ))}
          </ul>
          <button type="button" onClick={() => void createInvite(chatId)}>
            {t("groups.newLink")}
          </button>
        </section>
      )}
      <ErrorLine />
      <p class="danger-zone">
        <button type="button" onClick={() => void leaveChat(chatId, false).then((ok) => ok && navigate("/"))}>
          {chat.type === "channel" ? t("channels.leave") : t("groups.leave")}
        </button>{" "}
        {mine === "owner" && chat.type === "group" && (
          <button
            type="button"
            class="danger"
            onClick={() => confirm(t("groups.deleteConfirm")) && void leaveChat(chatId, true).then((ok) => ok && navigate("/"))}
          >
            {t("groups.delete")}
          </button>
        )}
      </p>
    </main>
  );
}
