// Channels: find one by handle or title, read it without subscribing, subscribe and leave,
// post as an admin; each post shows its views and forwards, and the posts shown are reported
// as viewed (POST /v1/chats/{id}/views).
import { useEffect, useState } from "preact/hooks";
import { t, time } from "../../i18n";
import { navigate } from "../../state/route";
import {
  createChannel,
  findChannels,
  openChannel,
  openChannelByHandle,
  postToChannel,
  subscribe,
  unsubscribe,
  useScreens,
} from "../../state/screens";
import { ErrorLine, Link } from "./common";

export function ChannelSearch() {
  const s = useScreens();
  const [text, setText] = useState("");
  const [title, setTitle] = useState("");
  const [handle, setHandle] = useState("");
  return (
    <main class="pane page">
      <h1>{t("channels.title")}</h1>
      <form
        role="search"
        class="inline-form"
        onSubmit={(e) => {
          e.preventDefault();
          if (text.trim().startsWith("@"))
            void openChannelByHandle(text.trim()).then((id) => id && navigate(`/channels/${id}`));
          else void findChannels(text);
        }}
      >
        <label for="channel-q">{t("channels.find")}</label>
        <input id="channel-q" type="search" dir="auto" value={text} onInput={(e) => setText(e.currentTarget.value)} />
        <button type="submit">{t("channels.search")}</button>
      </form>
      <ErrorLine />
      {s.channelResults && s.channelResults.length === 0 && <p class="hint">{t("channels.none")}</p>}
      {s.channelResults && s.channelResults.length > 0 && (
        <ul class="rows" aria-label={t("channels.results")}>
          {s.channelResults.map((c) => (
            <li>
              <Link to={`/channels/${c.id}`}>
                <span dir="auto">{c.title}</span>
              </Link>{" "}
              <small dir="ltr">@{c.handle}</small> <small>{t("channels.subscribers", { count: c.subscriber_count })}</small>
            </li>
          ))}
        </ul>
      )}
      <section aria-labelledby="new-channel-h">
        <h2 id="new-channel-h">{t("channels.new")}</h2>
        <form
          class="stack"
          onSubmit={(e) => {
            e.preventDefault();
            void createChannel(title, handle).then((id) => id && navigate(`/channels/${id}`));
          }}
        >
          <label for="channel-title">{t("channels.name")}</label>
          <input id="channel-title" dir="auto" required value={title} onInput={(e) => setTitle(e.currentTarget.value)} />
          <label for="channel-handle">{t("channels.handle")}</label>
          <input id="channel-handle" dir="ltr" required value={handle} onInput={(e) => setHandle(e.currentTarget.value)} />
          <button type="submit">{t("channels.create")}</button>
        </form>
      </section>
    </main>
  );
}

export function ChannelPage({ chatId }: { chatId: number }) {
  const s = useScreens();
  const [text, setText] = useState("");
  useEffect(() => void openChannel(chatId), [chatId]);
  const channel = s.channels[chatId];
  const posts = s.posts[chatId] ?? [];
  if (!channel)
    return (
      <main class="pane page" aria-busy={s.busy}>
        <ErrorLine />
      </main>
    );
  const admin = channel.role === "owner" || channel.role === "admin";
  return (
    <main class="pane page channel">
      <header>
        <h1 dir="auto">{channel.title}</h1>
        <p>
          <span dir="ltr">@{channel.handle}</span> · {t("channels.subscribers", { count: channel.subscriber_count })}
        </p>
        {channel.description && <p dir="auto">{channel.description}</p>}
        {channel.subscribed ? (
          <button type="button" onClick={() => void unsubscribe(chatId)}>
            {t("channels.leave")}
          </button>
        ) : (
          <button type="button" onClick={() => void subscribe(chatId)}>
            {t("channels.subscribe")}
          </button>
        )}{" "}
        {admin && <Link to={`/chats/${chatId}/stats`}>{t("stats.open")}</Link>}
      </header>
      <ErrorLine />
      <ol class="posts" aria-label={t("channels.posts")}>
        {posts.length === 0 && <li class="hint">{t("channels.noPosts")}</li>}
        {posts.map((p) => (
          <li class="post">
            <p class="text" dir="auto">
              {p.deleted ? t("chats.deleted") : p.text}
            </p>
            <small>
              {p.created_at ? time(new Date(p.created_at)) + " · " : ""}
              <span>{t("channels.viewsLabel", { count: p.views ?? 0 })}</span>
              {" · "}
              <span>{t("channels.forwardsLabel", { count: p.forwards ?? 0 })}</span>
            </small>
          </li>
        ))}
      </ol>
      {admin && (
        <form
          class="inline-form"
          onSubmit={(e) => {
            e.preventDefault();
            if (text.trim()) void postToChannel(chatId, text).then(() => setText(""));
          }}
        >
          <label for="post-text" class="sr-only">
            {t("channels.postText")}
          </label>
          <textarea id="post-text" dir="auto" rows={2} value={text} onInput={(e) => setText(e.currentTarget.value)} />
          <button type="submit">{t("channels.post")}</button>
        </form>
      )}
    </main>
  );
}
