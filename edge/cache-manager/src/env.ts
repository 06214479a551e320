// The cache-manager's bindings and variables (wrangler.toml).

export interface Env {
  /** Published agent configurations under versioned keys, and each agent's pointer. */
  CONFIGS: KVNamespace;
  /** Where the API is served (the regions behind Cloudflare's load balancer). */
  ORIGIN_URL: string;
  /** The secret shared with the origin and the auth-validator (wrangler secret put). */
  EDGE_SECRET?: string;
  /** Seconds a version's configuration is kept (default 604800, a week; it never changes). */
  CONFIG_TTL_S?: string;
  /** Seconds an agent's published-version pointer is trusted without a push (default 300):
   * bounds how long a lost publish event can leave an old version served. */
  POINTER_TTL_S?: string;
}
