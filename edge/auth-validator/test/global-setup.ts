// The auth-validator's tests: one fake region as the origin, and the real cache-manager
// bundled by wrangler (as `wrangler deploy` would) to sit behind the CACHE service binding.

import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { TestProject } from "vitest/node";
import { FakeRegion } from "../../testing/fake_region";

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const region = new FakeRegion("us-east-1");
  await region.start();
  project.provide("origin", region.origin);
  const outdir = mkdtempSync(join(tmpdir(), "aybiza-cache-manager-"));
  const edge = resolve(import.meta.dirname, "../..");
  execFileSync(
    join(edge, "node_modules/.bin/wrangler"),
    ["deploy", "--dry-run", "--outdir", outdir, "--config", join(edge, "cache-manager/wrangler.toml")],
    { env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" }, stdio: "pipe" },
  );
  project.provide("cacheManagerScript", join(outdir, "index.js"));
  return async () => {
    await region.stop();
    rmSync(outdir, { recursive: true, force: true });
  };
}
