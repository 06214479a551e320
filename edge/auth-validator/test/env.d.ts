declare namespace Cloudflare {
  type AuthEnv = import("../src/env").Env;
  interface Env extends AuthEnv {}
  interface GlobalProps {
    mainModule: typeof import("../src/index");
    durableNamespaces: "KeyShard";
  }
}
