import { describe, expect, it } from "vitest";
import type { ChannelStats } from "../api/screens";
import { breakdownBars, dailySeries, hourBars, lineSegments, scaleMax, subscribersOverTime } from "./charts";

function stats(daily: { joined: number | null; left: number | null; reach: number | null }[], count: number): ChannelStats {
  const hidden = { total: null, cells: null, other: null };
  return {
    chat_id: 1, from: "2026-11-01", to: "2026-11-03", days: daily.length, min_group: 10,
    subscribers: { count, joined: 0, left: 0, as_of: null, by_country_code: null, by_os: null },
    viewers: { views: 0, viewer_days: 0, by_country_code: hidden, by_os: hidden, by_hour: hidden },
    daily: daily.map((d, i) => ({
      day: `2026-11-0${i + 1}`,
      subscribers: { joined: d.joined, left: d.left, by_country_code: null, by_os: null },
      reach: d.reach, views: d.reach,
    })),
    posts: [],
  };
}

describe("breakdown bars", () => {
  it("shows the cells largest first and the pooled rest as one unnamed bar", () => {
    expect(breakdownBars({ total: 100, cells: { "49": 20, "98": 60 }, other: 20 })).toEqual([
      { label: "98", value: 60 },
      { label: "49", value: 20 },
      { label: "", value: 20, other: true },
    ]);
  });
  it("is null (hidden), not empty or zero, when the API hid the breakdown", () => {
    expect(breakdownBars({ total: null, cells: null, other: null })).toBeNull();
    expect(breakdownBars(null)).toBeNull();
  });
  it("has no other bar when nothing was pooled", () => {
    expect(breakdownBars({ total: 30, cells: { Android: 30 }, other: 0 })).toEqual([{ label: "Android", value: 30 }]);
  });
});

describe("reach by hour", () => {
  it("gives 24 hours, an hour outside the cells null rather than 0", () => {
    const hours = hourBars({ total: 50, cells: { "9": 30, "21": 12 }, other: 8 })!;
    expect(hours).toHaveLength(24);
    expect(hours[9]).toBe(30);
    expect(hours[21]).toBe(12);
    expect(hours[10]).toBeNull();
  });
});

describe("subscribers over time", () => {
  it("walks back from today's count through each day's joined and left", () => {
    const s = stats([{ joined: 10, left: 0, reach: 1 }, { joined: 12, left: 2, reach: 2 }], 100);
    expect(subscribersOverTime(s)).toEqual([90, 100]);
  });
  it("stops at a day whose joined or left is hidden: that day's start and earlier are unknown", () => {
    const s = stats(
      [{ joined: 10, left: 0, reach: 1 }, { joined: null, left: 0, reach: 2 }, { joined: 0, left: 0, reach: 3 }],
      50,
    );
    expect(subscribersOverTime(s)).toEqual([null, 50, 50]);
  });
  it("takes daily reach as given, hidden days null", () => {
    const s = stats([{ joined: 0, left: 0, reach: null }, { joined: 0, left: 0, reach: 40 }], 1);
    expect(dailySeries(s, "reach")).toEqual([null, 40]);
  });
});

describe("line geometry", () => {
  it("breaks the line at a hidden day", () => {
    expect(lineSegments([10, null, 5, 10], 300, 100)).toEqual(["0,0", "200,50 300,0"]);
  });
  it("scales to at least 1, so all-zero data draws on the axis", () => {
    expect(scaleMax([0, null, 0])).toBe(1);
    expect(lineSegments([0, 0], 10, 10)).toEqual(["0,10 10,10"]);
  });
});
