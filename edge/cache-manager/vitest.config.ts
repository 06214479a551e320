import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";
import { EDGE_SECRET } from "../testing/constants";

export default defineConfig({
  plugins: [
    cloudflareTest(({ inject }) => ({
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: { bindings: { EDGE_SECRET, ORIGIN_URL: inject("origin") } },
    })),
  ],
  test: { name: "cache-manager", globalSetup: ["../testing/one_region.ts"] },
});
