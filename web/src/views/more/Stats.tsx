// The statistics page of a channel for its owner and admins (loaded on first use): exactly
// what GET /v1/chats/{id}/stats answers, drawn as small SVG charts. A hidden figure (fewer
// than min_group people) is a gap or "hidden", never a zero.
import { useEffect, useState } from "preact/hooks";
import type { ChannelStats } from "../../api/screens";
import { day, num, shortDay, t } from "../../i18n";
import { type Bar, breakdownBars, dailySeries, hourBars, lineSegments, scaleMax, subscribersOverTime } from "../../state/charts";
import { loadStats, useScreens } from "../../state/screens";
import { ErrorLine, Link } from "./common";

const W = 320;
const H = 120;

function LineChart({ title, values, days }: { title: string; values: (number | null)[]; days: string[] }) {
  const segments = lineSegments(values, W, H);
  const shown = values.filter((v): v is number => v !== null);
  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <svg viewBox={`-4 -4 ${W + 8} ${H + 8}`} role="img" aria-label={t("stats.lineLabel", { title, max: scaleMax(values), shown: shown.length, days: values.length })}>
        <line x1="0" y1={H} x2={W} y2={H} class="axis" />
        {segments.map((points) => (
          <polyline points={points} class="line" />
        ))}
      </svg>
      <p class="chart-range">
        <span>{days[0] ? shortDay(new Date(days[0])) : ""}</span>
        <span>{t("stats.max", { n: scaleMax(values) })}</span>
        <span>{days.at(-1) ? shortDay(new Date(days.at(-1)!)) : ""}</span>
      </p>
    </figure>
  );
}

function Bars({ title, bars, label }: { title: string; bars: Bar[] | null; label: (b: Bar) => string }) {
  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      {bars === null ? (
        <p class="hint">{t("stats.hidden")}</p>
      ) : (
        <table class="bars">
          <tbody>
            {bars.map((b) => (
              <tr>
                <th scope="row" dir="auto">
                  {b.other ? t("stats.other") : label(b)}
                </th>
                <td>
                  <svg viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true">
                    <rect x="0" y="0" height="10" width={(b.value / scaleMax(bars.map((x) => x.value))) * 100} class="bar" />
                  </svg>
                </td>
                <td class="num">{num(b.value)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </figure>
  );
}

function HourChart({ stats }: { stats: ChannelStats }) {
  const hours = hourBars(stats.viewers.by_hour);
  const max = hours ? scaleMax(hours) : 1;
  return (
    <figure class="chart">
      <figcaption>{t("stats.byHour")}</figcaption>
      {hours === null ? (
        <p class="hint">{t("stats.hidden")}</p>
      ) : (
        <>
          <svg viewBox={`0 0 ${24 * 10} ${H}`} role="img" aria-label={t("stats.byHourLabel", { other: stats.viewers.by_hour.other ?? 0 })}>
            {hours.map((v, h) =>
              v === null ? null : (
                <rect x={h * 10 + 1} y={H - (v / max) * H} width="8" height={(v / max) * H} class="bar">
                  <title>{t("stats.hourCell", { hour: h, n: v })}</title>
                </rect>
              ),
            )}
          </svg>
          <p class="chart-range">
            <span>{num(0)}</span>
            <span>{t("stats.otherHours", { n: stats.viewers.by_hour.other ?? 0 })}</span>
            <span>{num(23)}</span>
          </p>
        </>
      )}
    </figure>
  );
}

export function StatsPage({ chatId }: { chatId: number }) {
  const s = useScreens();
  const [days, setDays] = useState(30);
  useEffect(() => void loadStats(chatId, days), [chatId, days]);
  const stats = s.stats[chatId];
  const dayNames = stats?.daily.map((d) => d.day) ?? [];
  return (
    <main class="pane page stats">
      <p>
        <Link to={`/channels/${chatId}`}>{t("stats.back")}</Link>
      </p>
      <h1>{t("stats.title")}</h1>
      <label for="stats-days">{t("stats.period")}</label>{" "}
      <select id="stats-days" value={String(days)} onChange={(e) => setDays(Number(e.currentTarget.value))}>
        {[7, 30, 90].map((d) => (
          <option value={String(d)}>{t("stats.lastDays", { n: d })}</option>
        ))}
      </select>
      <ErrorLine />
      {stats && (
        <>
          <p class="hint">{t("stats.range", { from: day(new Date(stats.from)), to: day(new Date(stats.to)), k: stats.min_group })}</p>
          <dl class="figures">
            <div><dt>{t("stats.subscribers")}</dt><dd>{num(stats.subscribers.count)}</dd></div>
            <div><dt>{t("stats.joined")}</dt><dd>{num(stats.subscribers.joined)}</dd></div>
            <div><dt>{t("stats.left")}</dt><dd>{num(stats.subscribers.left)}</dd></div>
            <div><dt>{t("stats.views")}</dt><dd>{num(stats.viewers.views)}</dd></div>
            <div><dt>{t("stats.viewerDays")}</dt><dd>{num(stats.viewers.viewer_days)}</dd></div>
          </dl>
          <div class="charts">
            <LineChart title={t("stats.subscribersOverTime")} values={subscribersOverTime(stats)} days={dayNames} />
            <LineChart title={t("stats.reach")} values={dailySeries(stats, "reach")} days={dayNames} />
            <Bars
              title={t("stats.viewsPerPost")}
              bars={stats.posts.map((p) => ({ label: t("stats.post", { seq: p.seq }), value: p.views }))}
              label={(b) => b.label}
            />
            <HourChart stats={stats} />
            <Bars title={t("stats.byCountry")} bars={breakdownBars(stats.viewers.by_country_code)} label={(b) => (b.label === "unknown" ? t("stats.unknown") : "+" + b.label)} />
            <Bars title={t("stats.byOs")} bars={breakdownBars(stats.viewers.by_os)} label={(b) => b.label} />
            <Bars title={t("stats.subscribersByCountry")} bars={breakdownBars(stats.subscribers.by_country_code)} label={(b) => (b.label === "unknown" ? t("stats.unknown") : "+" + b.label)} />
            <Bars title={t("stats.subscribersByOs")} bars={breakdownBars(stats.subscribers.by_os)} label={(b) => b.label} />
          </div>
          <table class="posts-table">
            <caption>{t("stats.postsTable")}</caption>
            <thead>
              <tr><th scope="col">{t("stats.postCol")}</th><th scope="col">{t("stats.views")}</th><th scope="col">{t("stats.forwards")}</th></tr>
            </thead>
            <tbody>
              {stats.posts.map((p) => (
                <tr><td>{t("stats.post", { seq: p.seq })}</td><td class="num">{num(p.views)}</td><td class="num">{num(p.forwards)}</td></tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </main>
  );
}
