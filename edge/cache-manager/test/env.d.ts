declare namespace Cloudflare {
  type CacheEnv = import("../src/env").Env;
  interface Env extends CacheEnv {}
  interface GlobalProps {
    mainModule: typeof import("../src/index");
  }
}
