// Which regions a new call is offered to, best first. Pure: the router tries them in order,
// moving to the next when one refuses (503 while draining) or cannot be reached.
//
// A number with a home `region` known to the table is served only by that region and its
// `fallback_region` (numbers pinned to a region stay there: residency, and the carrier's own
// fallback URL takes over when both are down). The home region goes first unless it is full
// (load >= 1) while the fallback is not. Other numbers go to the regions nearest the caller's
// country first, then the rest, full regions last; among equals the choice is random,
// weighted by each region's weight and free capacity, so routers do not all pile onto the
// least loaded region between two health checks.

import type { RegionConfig } from "./regions";

export interface RegionState {
  /** Passing its health checks (unknown regions count as healthy until first checked). */
  healthy: boolean;
  /** Live calls / capacity as the region last published it (0 when unknown). */
  load: number;
}

export interface NumberRoute {
  region: string;
  fallback_region: string | null;
}

export function rankRegions(
  table: RegionConfig[],
  states: Record<string, RegionState | undefined>,
  number: NumberRoute | undefined,
  country: string | undefined,
  random: () => number = Math.random,
): RegionConfig[] {
  const byName = new Map(table.map((region) => [region.name, region]));
  const healthy = (region: RegionConfig): boolean => states[region.name]?.healthy ?? true;
  const load = (region: RegionConfig): number => states[region.name]?.load ?? 0;
  const home = number ? byName.get(number.region) : undefined;
  if (number && home) {
    const fallback = number.fallback_region ? byName.get(number.fallback_region) : undefined;
    const pinned = [home, ...(fallback && fallback !== home ? [fallback] : [])].filter(healthy);
    const [first, second] = pinned;
    if (first && second && load(first) >= 1 && load(second) < 1) return [second, first];
    return pinned;
  }
  const usable = table.filter(healthy);
  const near = usable.filter((r) => load(r) < 1 && country !== undefined && r.countries.includes(country));
  const rest = usable.filter((r) => load(r) < 1 && !near.includes(r));
  const full = usable.filter((r) => load(r) >= 1);
  return [...weightedOrder(near, load, random), ...weightedOrder(rest, load, random), ...full];
}

/** The regions in a random order where each comes earlier in proportion to its weight times
 * its free capacity (a region with 5 % free or less still gets a small share). */
function weightedOrder(
  regions: RegionConfig[],
  load: (region: RegionConfig) => number,
  random: () => number,
): RegionConfig[] {
  const left = [...regions];
  const order: RegionConfig[] = [];
  while (left.length > 0) {
    const weights = left.map((r) => r.weight * Math.max(0.05, 1 - load(r)));
    let pick = random() * weights.reduce((sum, w) => sum + w, 0);
    let index = 0;
    while (index < left.length - 1 && pick >= (weights[index] ?? 0)) {
      pick -= weights[index] ?? 0;
      index += 1;
    }
    order.push(...left.splice(index, 1));
  }
  return order;
}
