/**
 * Whether a module is the program being run, in Deno (`import.meta.main`)
 * and in Node (the module's file is `process.argv[1]`). Internal.
 *
 * @module
 */
import { realpathSync } from "node:fs";
import process from "node:process";
import { fileURLToPath } from "node:url";

/** True when the module whose `import.meta` this is was run as the program. */
export function isMain(meta: ImportMeta): boolean {
  const m = meta as ImportMeta & { main?: boolean };
  if (typeof m.main === "boolean") return m.main;
  const script = process.argv[1];
  if (!script || !m.url) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(m.url));
  } catch {
    return false;
  }
}
