/**
 * Whether a module is the program being run, for the scripts that are also
 * modules (the registry daemon, the KV node, the chat node). Internal.
 *
 * @module
 */
import { realpathSync } from "node:fs";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

/**
 * True when the module at `url` (its `import.meta.url`) is the program: in
 * Deno, `import.meta.main` (pass it as `denoMain`) and `Deno.mainModule`; in
 * Node, `process.argv[1]`. Only `import.meta.url`
 * is needed, which the CommonJS build shims. In the npm build a module's
 * code may sit in a shared chunk (`dist/chunk-*.js`); then the program is
 * its bin entry `dist/<builtEntry>.js` (or `.cjs`) beside the chunk.
 */
export function isMain(
  url: string | undefined,
  builtEntry?: string,
  denoMain?: boolean,
): boolean {
  if (!url) return false;
  try {
    const deno = (globalThis as { Deno?: { mainModule?: string } }).Deno;
    let program: string;
    // Deno's import.meta.main is false under `deno test` (which loads the
    // module, e.g. for its doc examples) even though mainModule is the module.
    if (deno && denoMain === false) return false;
    if (deno) {
      const main = deno.mainModule;
      if (!main) return false;
      if (main === url) return true;
      if (!main.startsWith("file:")) return false;
      program = fileURLToPath(main);
    } else {
      if (!process.argv[1]) return false;
      program = realpathSync(process.argv[1]);
    }
    const self = fileURLToPath(url);
    if (program === realpathSync(self)) return true;
    if (builtEntry === undefined || !/[\\/]chunk-[^\\/]*\.c?js$/.test(self)) {
      return false;
    }
    const built = join(dirname(self), builtEntry);
    return program === `${built}.js` || program === `${built}.cjs`;
  } catch {
    return false;
  }
}
