// Every worker's tests, each project in workerd with its own wrangler.toml.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: { projects: ["voice-router", "cache-manager", "auth-validator"] },
});
