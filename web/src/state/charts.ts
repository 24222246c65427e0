// The figures of the statistics page turned into chart geometry: exactly what the API shows.
// A hidden figure (null: fewer than min_group people) stays a gap, never a zero, and a
// breakdown's `other` is one unnamed bar, never split or guessed.
import type { Breakdown, ChannelStats } from "../api/screens";

export interface Bar {
  label: string;
  value: number;
  other?: boolean;
}

/** A breakdown's bars, largest first, then `other`; null when the API hid the whole of it. */
export function breakdownBars(b: Breakdown | null | undefined): Bar[] | null {
  if (!b || b.total === null || b.cells === null) return null;
  const bars: Bar[] = Object.entries(b.cells)
    .map(([label, value]) => ({ label, value }))
    .sort((x, y) => y.value - x.value || x.label.localeCompare(y.label));
  if (b.other) bars.push({ label: "", value: b.other, other: true });
  return bars;
}

/** The 24 UTC hours of a by_hour breakdown; an hour not among the cells has no bar of its
 * own (its people are in `other`), so its value is null rather than 0. */
export function hourBars(b: Breakdown | null | undefined): (number | null)[] | null {
  if (!b || b.total === null || b.cells === null) return null;
  return Array.from({ length: 24 }, (_, h) => b.cells![String(h)] ?? null);
}

/** One value per day for a line: the count, or null where the API hid it. */
export function dailySeries(stats: ChannelStats, pick: "reach" | "views" | "joined" | "left"): (number | null)[] {
  return stats.daily.map((d) => (pick === "reach" || pick === "views" ? d[pick] : d.subscribers[pick]));
}

/** Subscribers over time: the known count now, walked back through the days' joined and left.
 * A day with a hidden joined or left breaks the walk: that day and every one before it is null,
 * since no figure the API gave says what it was. */
export function subscribersOverTime(stats: ChannelStats): (number | null)[] {
  const out: (number | null)[] = new Array(stats.daily.length).fill(null);
  let count: number | null = stats.subscribers.count;
  for (let i = stats.daily.length - 1; i >= 0 && count !== null; i--) {
    out[i] = count;
    const { joined, left } = stats.daily[i].subscribers;
    count = joined === null || left === null ? null : count - joined + left;
  }
  return out;
}

/** The top of a chart's scale: the largest value, at least 1. */
export function scaleMax(values: readonly (number | null)[]): number {
  return Math.max(1, ...values.map((v) => v ?? 0));
}

/** SVG polyline segments (each "x,y x,y ...") for a series in a width x height box; a null
 * breaks the line, so a hidden day is a gap. */
export function lineSegments(values: readonly (number | null)[], width: number, height: number): string[] {
  const max = scaleMax(values);
  const step = values.length > 1 ? width / (values.length - 1) : 0;
  const segments: string[] = [];
  let current: string[] = [];
  values.forEach((v, i) => {
    if (v === null) {
      if (current.length) segments.push(current.join(" "));
      current = [];
      return;
    }
    const x = Math.round(i * step * 10) / 10;
    const y = Math.round((height - (v / max) * height) * 10) / 10;
    current.push(`${x},${y}`);
  });
  if (current.length) segments.push(current.join(" "));
  return segments;
}
