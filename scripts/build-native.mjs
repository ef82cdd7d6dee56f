// Builds the native compute addon with node-gyp during `npm install`. A failed build is not fatal:
// saelab then runs on its reference TypeScript backend and says so once when it starts.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";

if (process.env.SAELAB_SKIP_NATIVE === "1") {
  console.log("saelab: SAELAB_SKIP_NATIVE=1, not building the native addon");
  process.exit(0);
}
if (!existsSync(new URL("../binding.gyp", import.meta.url))) process.exit(0);

// npm exposes its bundled node-gyp to lifecycle scripts through npm_config_node_gyp; outside npm,
// look for the copy that ships with npm beside this Node.js.
const candidates = [
  process.env.npm_config_node_gyp,
  join(dirname(process.execPath), "../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js"),
].filter((p) => p && existsSync(p));
// Use the headers installed beside this Node.js when npm did not say where they are, so that no
// download is attempted (this machine and CI have no route to nodejs.org).
const args = ["rebuild"];
const prefix = join(dirname(process.execPath), "..");
if (!process.env.npm_config_nodedir && existsSync(join(prefix, "include/node/node_api.h"))) args.push(`--nodedir=${prefix}`);
const r = candidates.length > 0
  ? spawnSync(process.execPath, [candidates[0], ...args], { stdio: "inherit" })
  : spawnSync("node-gyp", args, { stdio: "inherit", shell: process.platform === "win32" });
if (r.status !== 0) {
  console.warn(
    "saelab: the native compute addon could not be built (node-gyp needs python3, make and a C++ compiler);" +
      " saelab will run on the slower reference backend.",
  );
}
process.exit(0);
