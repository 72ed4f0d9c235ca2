/**
 * Node names, host names and the cookie: how a node's full name is made from
 * `name`/`sname`, where a host is, and where the cookie comes from. Shared by
 * nodes and peers. Internal.
 *
 * @module
 */
import { randomBytes } from "node:crypto";
import { lookup as dnsLookup } from "node:dns/promises";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { homedir, hostname } from "node:os";
import { join } from "node:path";
import process from "node:process";

/** How a node is named: one of the two. */
export interface NameOptions {
  /** A full node name, used as given: `"alex@localhost"`. */
  name?: string;
  /** A short name: `"alex"` becomes `alex@<this host's short name>`. */
  sname?: string;
}

const NAME_PART = /^[A-Za-z0-9_\-]+$/;
const HOST_PART = /^[A-Za-z0-9_\-.]+$/;

/** Validates and completes a node name from `name` or `sname`. */
export function nodeNameFrom(options: NameOptions): string {
  if (options.name !== undefined && options.sname !== undefined) {
    throw new TypeError("give either name or sname, not both");
  }
  if (options.name !== undefined) {
    const [alive, host, ...more] = options.name.split("@");
    if (more.length || !alive || !host) {
      throw new TypeError(
        `name must be a full node name like "alex@localhost", got ${
          JSON.stringify(options.name)
        }; use sname for a short name`,
      );
    }
    // An IPv6 address is a host too (`a@::1`, `a@fd00::2`), as the BEAM
    // takes it with -proto_dist inet6_tcp.
    const hostOk = (HOST_PART.test(host) || isIP(host) === 6) &&
      host.length <= 255;
    if (!NAME_PART.test(alive) || !hostOk || alive.length > 255) {
      throw new TypeError(
        `invalid node name ${
          JSON.stringify(options.name)
        }: use letters, digits, _ and - before the @, and a host name or IP address after it`,
      );
    }
    return options.name;
  }
  if (options.sname !== undefined) {
    const s = options.sname;
    if (s.includes("@")) {
      const [, host] = s.split("@");
      if (host.includes(".")) {
        throw new TypeError(
          `sname ${
            JSON.stringify(s)
          } has a dotted host; short names take a host without dots (use name for long names)`,
        );
      }
      return nodeNameFrom({ name: s });
    }
    if (!NAME_PART.test(s) || s.length > 255) {
      throw new TypeError(
        `invalid short name ${JSON.stringify(s)}: use letters, digits, _ and -`,
      );
    }
    return `${s}@${hostname().split(".")[0]}`;
  }
  throw new TypeError(
    'startNode needs a name ("alex@localhost") or an sname ("alex")',
  );
}

/** Finds the cookie: option, NODERL_COOKIE, or ~/.erlang.cookie (created if missing). */
export function resolveCookie(option: string | undefined): string {
  if (option !== undefined) {
    if (option.length === 0) {
      throw new TypeError("the cookie must not be empty");
    }
    return option;
  }
  const env = process.env.NODERL_COOKIE;
  if (env) return env;
  const file = join(homedir(), ".erlang.cookie");
  if (existsSync(file)) {
    const c = readFileSync(file, "utf8").trim();
    if (c) return c;
  }
  const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  const bytes = randomBytes(20);
  const cookie = Array.from(bytes, (b) => letters[b % 26]).join("");
  writeFileSync(file, cookie, { mode: 0o600 });
  chmodSync(file, 0o400);
  return cookie;
}

/**
 * The address of `host`: an IP address is itself, `localhost` is
 * 127.0.0.1, a name is its IPv4 address — or its IPv6 address when it has
 * none — and this host's own name is loopback when it does not resolve.
 */
export async function resolveHost(host: string): Promise<string> {
  if (host === "localhost") return "127.0.0.1";
  if (isIP(host)) return host;
  for (const family of [4, 6] as const) {
    try {
      return (await dnsLookup(host, { family })).address;
    } catch {
      // the other family, or the fallback below
    }
  }
  if (host === hostname() || host === hostname().split(".")[0]) {
    return "127.0.0.1";
  }
  throw new Error(
    `cannot resolve host ${host} (neither an IPv4 nor an IPv6 address): fix DNS or /etc/hosts`,
  );
}
