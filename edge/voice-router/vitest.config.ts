import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";
import { EDGE_SECRET } from "../testing/constants";

// The fake regions' loopback origins become the router's region table; a port nothing listens
// on stands for a region that is down. Health checks run when the tests ask (checkNow), not
// on the alarm's clock.
export default defineConfig({
  plugins: [
    cloudflareTest(({ inject }) => {
      const origins = Object.fromEntries(inject("regions").map((r) => [r.name, r.origin]));
      return {
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: {
          bindings: {
            EDGE_SECRET,
            HEALTH_INTERVAL_MS: "600000",
            NUMBERS_SYNC_MS: "600000",
            REGIONS: JSON.stringify([
              { name: "us-east-1", origin: origins["us-east-1"], countries: ["US", "CA"], weight: 1 },
              { name: "us-west-2", origin: origins["us-west-2"], countries: ["US", "JP"], weight: 1 },
              { name: "eu-west-1", origin: origins["eu-west-1"], countries: ["GB", "FR"], weight: 1 },
              { name: "ap-south-1", origin: "http://127.0.0.1:9", countries: ["IN"], weight: 1 },
            ]),
          },
        },
      };
    }),
  ],
  test: { name: "voice-router", globalSetup: ["./test/global-setup.ts"] },
});
