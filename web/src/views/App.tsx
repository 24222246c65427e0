import { useEffect, useState } from "preact/hooks";
import type { Lang } from "../i18n";
import { lang, t } from "../i18n";
import { signOut } from "../state/actions";
import { useStore } from "../state/hooks";
import { store } from "../state/store";
import { navigate, useRoute } from "../state/route";
import { ChatList } from "./ChatList";
import { Contacts } from "./Contacts";
import { Conversation } from "./Conversation";
import { OfflineBanner } from "./OfflineBanner";
import { applyLang, rememberPrefs } from "./prefs";
import { Settings } from "./Settings";
import { CallLayer } from "../calls/CallLayer";
import { SignIn } from "./SignIn";
import { MoreScreens, Receipt } from "./more";
import { screens } from "../state/screens";

export function App() {
  const state = useStore();
  const route = useRoute();
  const [, setLangState] = useState<Lang>(lang());
  const changeLang = (l: Lang) => {
    applyLang(l);
    setLangState(l);
    if (store.state.phase === "ready") void rememberPrefs(l);
  };
  // A language asked for with ?lang= is remembered too, where the preferences are allowed.
  useEffect(() => {
    if (state.phase === "ready" && new URLSearchParams(location.search).has("lang")) void rememberPrefs(lang());
  }, [state.phase]);

  if (state.phase === "loading") {
    return (
      <main class="center" aria-busy="true">
        <p>{t("status.connecting")}</p>
      </main>
    );
  }
  if (state.phase === "signedOut" && screens().receipt) return <Receipt />;
  if (state.phase === "signedOut") return <SignIn onLang={changeLang} />;

  const link = (path: string, label: string, current: boolean) => (
    <a
      href={path}
      aria-current={current ? "page" : undefined}
      onClick={(e) => {
        e.preventDefault();
        navigate(path);
      }}
    >
      {label}
    </a>
  );
  const inChat = route.name === "chats" && route.chatId !== undefined;
  return (
    <div class={"shell" + (inChat ? " in-chat" : "")}>
      <header class="topbar">
        <span class="brand">{t("app.name")}</span>
        <nav aria-label={t("nav.main")}>
          {link("/", t("nav.chats"), route.name === "chats")}
          {link("/contacts", t("nav.contacts"), route.name === "contacts")}
          {link("/settings", t("nav.settings"), route.name === "settings")}
          {link("/channels", t("channels.title"), route.name === "channels" || route.name === "channel")}
          {link("/groups/new", t("groups.new"), route.name === "newGroup")}
        </nav>
        <button type="button" class="link-button" onClick={() => void signOut().then(() => navigate("/"))}>
          {t("nav.signOut")}
        </button>
      </header>
      <OfflineBanner online={state.online} />
      {route.name === "chats" && (
        <div class="panes">
          <ChatList activeId={route.chatId} />
          {route.chatId !== undefined ? (
            <Conversation key={route.chatId} chatId={route.chatId} />
          ) : (
            <main class="pane placeholder">
              <p>{t("chats.pick")}</p>
            </main>
          )}
        </div>
      )}
      {route.name === "contacts" && <Contacts />}
      {route.name === "settings" && <Settings onLang={changeLang} />}
      <MoreScreens route={route} />
      <CallLayer />
    </div>
  );
}
