// Builds the native compute addon with node-gyp during `npm install`. A failed build is not fatal:
// saelab then runs on its reference TypeScript backend and says so once when it starts.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

if (process.env.SAELAB_SKIP_NATIVE === "1") {
  console.log("saelab: SAELAB_SKIP_NATIVE=1, not building the native addon");
  process.exit(0);
}
if (!existsSync(new URL("../binding.gyp", import.meta.url))) process.exit(0);

const r = spawnSync("node-gyp", ["rebuild"], { stdio: "inherit", shell: process.platform === "win32" });
if (r.status !== 0) {
  console.warn(
    "saelab: the native compute addon could not be built (node-gyp needs python3, make and a C++ compiler);" +
      " saelab will run on the slower reference backend.",
  );
}
process.exit(0);
