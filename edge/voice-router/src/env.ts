// The voice-router's bindings and variables (wrangler.toml).

import type { RegionHealth } from "./health";

export interface Env {
  REGION_HEALTH: DurableObjectNamespace<RegionHealth>;
  /** The region table: [{name, origin, countries, weight}] (see regions.ts). */
  REGIONS: unknown;
  /** Milliseconds between two health checks of every region (default 2000). */
  HEALTH_INTERVAL_MS?: string;
  /** A check not answered within this many milliseconds fails (default 1500). */
  HEALTH_TIMEOUT_MS?: string;
  /** Passing checks in a row that bring a failed region back (default 2). */
  HEALTH_RISE?: string;
  /** Milliseconds between two pulls of the number table (default 30000). */
  NUMBERS_SYNC_MS?: string;
  /** A webhook the origin has not answered within this many milliseconds goes to the next
   * region (default 10000). */
  ORIGIN_TIMEOUT_MS?: string;
  /** The secret shared with the origin (wrangler secret put EDGE_SECRET). */
  EDGE_SECRET?: string;
}
