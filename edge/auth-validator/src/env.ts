// The auth-validator's bindings and variables (wrangler.toml).

import type { KeyShard } from "./key_shard";

export interface Env {
  KEY_SHARDS: DurableObjectNamespace<KeyShard>;
  /** The cache-manager (service binding): published agent configurations from the edge. */
  CACHE?: Fetcher;
  /** Where the API is served (the regions behind Cloudflare's load balancer). */
  ORIGIN_URL: string;
  /** The secret shared with the origin (wrangler secret put EDGE_SECRET). */
  EDGE_SECRET?: string;
  /** Hex digits of a key's hash that name its shard: 1 -> 16 shards (default 1). */
  KEY_SHARD_DIGITS?: string;
  /** Milliseconds between two pulls of a shard's keys from the origin (default 60000). */
  KEY_SYNC_MS?: string;
  /** Requests a minute per key (default 1200); 0 turns the limit off. */
  RATE_LIMIT_PER_MIN?: string;
  /** Requests a key may send at once after a quiet spell (default: RATE_LIMIT_PER_MIN). */
  RATE_LIMIT_BURST?: string;
}
