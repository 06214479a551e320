declare namespace Cloudflare {
  type RouterEnv = import("../src/env").Env;
  interface Env extends RouterEnv {}
  interface GlobalProps {
    mainModule: typeof import("../src/index");
    durableNamespaces: "RegionHealth";
  }
}
