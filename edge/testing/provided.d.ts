// What the tests' global set-ups provide (vitest's provide/inject).
import "vitest";

declare module "vitest" {
  export interface ProvidedContext {
    /** The fake regions of the voice-router's tests. */
    regions: { name: string; origin: string }[];
    /** The fake origin of the cache-manager's and auth-validator's tests. */
    origin: string;
    /** The cache-manager, bundled for the auth-validator's tests (its service binding). */
    cacheManagerScript: string;
  }
}
