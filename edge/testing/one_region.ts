// Global set-up for the cache-manager's and auth-validator's tests: one fake region as the
// origin (testing/fake_region.ts).

import type { TestProject } from "vitest/node";
import { FakeRegion } from "./fake_region";


export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const region = new FakeRegion("us-east-1");
  await region.start();
  project.provide("origin", region.origin);
  return () => region.stop();
}
