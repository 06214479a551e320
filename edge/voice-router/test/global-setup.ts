// Three fake AYBIZA regions on 127.0.0.1 for the router's tests (testing/fake_region.ts); the
// tests, running in workerd, steer them over loopback HTTP.

import type { TestProject } from "vitest/node";
import { FakeRegion } from "../../testing/fake_region";


export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const regions = [new FakeRegion("us-east-1"), new FakeRegion("us-west-2"), new FakeRegion("eu-west-1")];
  await Promise.all(regions.map((region) => region.start()));
  project.provide("regions", regions.map((region) => ({ name: region.name, origin: region.origin })));
  return async () => {
    await Promise.all(regions.map((region) => region.stop()));
  };
}
