/** saelab's version, read from package.json (one level above both src/ and dist/), so a release bump changes it everywhere. */
import { createRequire } from "node:module";

/** The version of this saelab (package.json's "version"). */
export const SAELAB_VERSION: string = (createRequire(import.meta.url)("../package.json") as { version: string }).version;
