import { dirname } from "node:path";
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";
import { EDGE_SECRET } from "../testing/constants";

// A small rate (6 a minute, bursts of 3) so the limit shows in a few requests.
export default defineConfig({
  plugins: [
    cloudflareTest(({ inject }) => ({
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        bindings: { EDGE_SECRET, ORIGIN_URL: inject("origin"), RATE_LIMIT_PER_MIN: "6", RATE_LIMIT_BURST: "3" },
        workers: [
          {
            name: "aybiza-cache-manager",
            modules: true,
            scriptPath: inject("cacheManagerScript"),
            modulesRoot: dirname(inject("cacheManagerScript")),
            compatibilityDate: "2026-04-01",
            kvNamespaces: ["CONFIGS"],
            bindings: { EDGE_SECRET, ORIGIN_URL: inject("origin") },
          },
        ],
      },
    })),
  ],
  test: { name: "auth-validator", globalSetup: ["./test/global-setup.ts"] },
});
