/**
 * Environment variables read when a module loads (tuning knobs such as
 * `NODERL_CONTEXT`): on Deno, one the program has no permission to read is
 * simply unset, so importing noderl neither throws `NotCapable` nor prompts
 * for `--allow-env`. Internal.
 *
 * @module
 */
import process from "node:process";

interface DenoPermissions {
  querySync?(d: { name: "env"; variable: string }): { state: string };
}

/** The variable's value, or undefined when unset or not readable. */
export function optionalEnv(name: string): string | undefined {
  const permissions = (globalThis as {
    Deno?: { permissions?: DenoPermissions };
  }).Deno?.permissions;
  if (permissions?.querySync !== undefined) {
    try {
      const { state } = permissions.querySync({ name: "env", variable: name });
      if (state !== "granted") return undefined;
    } catch {
      return undefined;
    }
  }
  try {
    return process.env[name];
  } catch {
    return undefined;
  }
}
