import { describe, expect, it } from "vitest";
import { rankRegions, type RegionState } from "../src/ranking";
import { parseRegions } from "../src/regions";

const table = parseRegions([
  { name: "us-east-1", origin: "https://use1.example.com", countries: ["US", "CA"] },
  { name: "us-west-2", origin: "https://usw2.example.com", countries: ["US", "JP"] },
  { name: "eu-west-1", origin: "https://euw1.example.com", countries: ["GB", "FR"], weight: 2 },
]);
const names = (regions: { name: string }[]): string[] => regions.map((r) => r.name);
const up = (load = 0): RegionState => ({ healthy: true, load });
const down: RegionState = { healthy: false, load: 0 };
const pinned = { region: "us-east-1", fallback_region: "us-west-2" };

describe("rankRegions", () => {
  it("offers a number's call to its home region, then its fallback region only", () => {
    const ranked = rankRegions(table, {}, pinned, "GB");
    expect(names(ranked)).toEqual(["us-east-1", "us-west-2"]);
  });

  it("moves a number's calls to the fallback region while the home region fails its checks", () => {
    const ranked = rankRegions(table, { "us-east-1": down, "us-west-2": up() }, pinned, "US");
    expect(names(ranked)).toEqual(["us-west-2"]);
  });

  it("puts a full home region after a fallback region with room", () => {
    const ranked = rankRegions(table, { "us-east-1": up(1.0), "us-west-2": up(0.5) }, pinned, "US");
    expect(names(ranked)).toEqual(["us-west-2", "us-east-1"]);
  });

  it("offers nothing when a number's home and fallback regions are both down", () => {
    const ranked = rankRegions(table, { "us-east-1": down, "us-west-2": down }, pinned, "US");
    expect(ranked).toEqual([]);
  });

  it("routes a number whose region the table lacks by the caller's country", () => {
    const ranked = rankRegions(table, {}, { region: "sa-east-1", fallback_region: null }, "GB");
    expect(ranked[0]?.name).toBe("eu-west-1");
  });

  it("prefers the regions near the caller's country, then the others, full ones last", () => {
    const states = { "us-east-1": up(1.2), "us-west-2": up(0.1), "eu-west-1": up(0.3) };
    // us-west-2 serves JP; us-east-1 is full, so it comes after eu-west-1, which has room.
    const ranked = rankRegions(table, states, undefined, "JP", () => 0.99);
    expect(names(ranked)).toEqual(["us-west-2", "eu-west-1", "us-east-1"]);
  });

  it("leaves out regions that fail their checks", () => {
    const ranked = rankRegions(table, { "eu-west-1": down }, undefined, "FR", () => 0);
    expect(names(ranked)).not.toContain("eu-west-1");
    expect(ranked).toHaveLength(2);
  });

  it("shares calls among equal regions by weight and free capacity", () => {
    // us-east-1: weight 1, 80 % busy -> 0.2; us-west-2: weight 1, idle -> 1.0.
    const states = { "us-east-1": up(0.8), "us-west-2": up(0) };
    const first = (draw: number): string | undefined => rankRegions(table, states, undefined, "US", () => draw)[0]?.name;
    expect(first(0.1)).toBe("us-east-1");
    expect(first(0.2)).toBe("us-west-2");
    expect(first(0.99)).toBe("us-west-2");
  });
});

describe("parseRegions", () => {
  it("names the entry and field of a bad region table", () => {
    expect(() => parseRegions([{ name: "Bad Name", origin: "https://x.example.com" }])).toThrow("REGIONS[0].name");
    expect(() => parseRegions([{ name: "a", origin: "https://x.example.com/path" }])).toThrow("REGIONS[0].origin");
    expect(() => parseRegions([{ name: "a", origin: "https://x.example.com", countries: ["usa"] }])).toThrow(
      "REGIONS[0].countries",
    );
    expect(() => parseRegions([{ name: "a", origin: "https://a.example.com" }, { name: "a", origin: "https://b.example.com" }])).toThrow(
      "REGIONS[1].name a appears twice",
    );
    expect(() => parseRegions("[]")).toThrow("non-empty");
  });

  it("reads the table from JSON text as well as from wrangler's objects", () => {
    const regions = parseRegions('[{"name": "us-east-1", "origin": "https://use1.example.com/"}]');
    expect(regions).toEqual([{ name: "us-east-1", origin: "https://use1.example.com", countries: [], weight: 1 }]);
  });
});
