#!/usr/bin/env node
/**
 * `noderl-top`: a live table of a node's processes — noderl's or any BEAM
 * node's (`iex --sname …`, `erl -sname …`) — sorted by message queue
 * length, reductions or memory, with the node's memory and its connected
 * nodes; it refreshes every second. It connects as a hidden node (the
 * target's `Node.list()` does not show it) and asks only what every node
 * answers over rpc.
 *
 *   deno run -A node/top_main.ts kate@localhost --cookie secret
 *   node --import tsx node/top_main.ts kate@localhost --once   (built: noderl-top …)
 *
 * @module
 */
import { randomBytes } from "node:crypto";
import process from "node:process";
import { parseArgs } from "node:util";
import { isMain } from "./_main.ts";
import { isPort } from "./_epmd.ts";
import { HandshakeError, NoConnectionError } from "./errors.ts";
import { type Node, startNode } from "./node.ts";
import { render, snapshot, type TopSnapshot, type TopSort } from "./_top.ts";
import { VERSION } from "./_version.ts";

const USAGE =
  `usage: noderl-top NODE [--cookie C] [--sort queue|reductions|memory] [--limit N]
                  [--interval MS] [--once] [--registry-port P]

Shows the processes of NODE (a noderl node or a BEAM node, e.g. one started
with iex --sname), the node's memory and the nodes it is connected to,
refreshed every second. Reductions are counted since the previous refresh.

  NODE              the node's full name, e.g. kate@localhost or alex@myhost
  --cookie C        the node's cookie (default: NODERL_COOKIE, else ~/.erlang.cookie)
  --sort KEY        queue (default), reductions or memory
  --limit N         rows to show (default 25)
  --interval MS     refresh period in ms (default 1000)
  --once            print one snapshot and exit
  --registry-port P where the registry (epmd) listens (default: ERL_EPMD_PORT, else 4369)
  --help, --version`;

const SORTS = new Set(["queue", "reductions", "memory"]);

/** Why the connection failed, in words that say what to do. */
function connectError(target: string, e: unknown): string {
  const msg = (e as Error)?.message ?? String(e);
  if (e instanceof HandshakeError && /cookie/.test(msg)) {
    return `cannot connect to ${target}: wrong cookie — ${target} refused our cookie. Give the node's cookie with --cookie (or NODERL_COOKIE); a BEAM node's cookie is its --cookie/-setcookie flag or its ~/.erlang.cookie`;
  }
  if (e instanceof NoConnectionError && /is registered/.test(msg)) {
    const detail = e.detail ?? msg;
    return `cannot connect to ${target}: ${detail} — is the node running? If its registry (epmd) listens on another port, give --registry-port or ERL_EPMD_PORT`;
  }
  return `cannot connect to ${target}: ${msg}`;
}

/** Runs noderl-top; resolves with the exit code. */
export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        cookie: { type: "string" },
        sort: { type: "string", default: "queue" },
        limit: { type: "string", default: "25" },
        interval: { type: "string", default: "1000" },
        once: { type: "boolean", default: false },
        "registry-port": { type: "string" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "v" },
      },
    });
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.version) {
    console.log(`noderl-top ${VERSION}`);
    return 0;
  }
  const bad = (why: string) => {
    console.error(`${why}\n${USAGE}`);
    return 2;
  };
  if (positionals.length !== 1) {
    return bad("give exactly one node name, e.g. noderl-top kate@localhost");
  }
  const target = positionals[0];
  const at = target.indexOf("@");
  if (at < 1 || at === target.length - 1 || target.indexOf("@", at + 1) >= 0) {
    return bad(
      `${JSON.stringify(target)} is not a full node name like kate@localhost`,
    );
  }
  if (!SORTS.has(values.sort!)) {
    return bad(
      `--sort must be queue, reductions or memory, got ${values.sort}`,
    );
  }
  const limit = Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1) {
    return bad(`--limit must be a whole number ≥ 1, got ${values.limit}`);
  }
  const interval = Number(values.interval);
  if (!Number.isFinite(interval) || interval < 100) {
    return bad(
      `--interval must be a number of ms ≥ 100, got ${values.interval}`,
    );
  }
  let registryPort: number | undefined;
  if (values["registry-port"] !== undefined) {
    registryPort = Number(values["registry-port"]);
    if (!isPort(registryPort, 1)) {
      return bad(
        `--registry-port must be a TCP port number, got ${
          values["registry-port"]
        }`,
      );
    }
  }
  const host = target.slice(at + 1);
  let node: Node;
  try {
    node = await startNode({
      name: `noderl_top_${process.pid}_${
        randomBytes(3).toString("hex")
      }@${host}`,
      cookie: values.cookie,
      registryPort,
      hidden: true,
      logLevel: "none",
    });
  } catch (e) {
    console.error(
      `cannot start noderl-top's own (hidden) node: ${(e as Error).message}`,
    );
    return 1;
  }
  try {
    try {
      await node.connectTo(target);
    } catch (e) {
      console.error(connectError(target, e));
      return 1;
    }
    const options = {
      sort: values.sort as TopSort,
      limit,
      width: process.stdout.columns,
    };
    if (values.once) {
      console.log(render(await snapshot(node, target, undefined), options));
      return 0;
    }
    const tty = process.stdout.isTTY === true;
    let stop = false;
    let wake: () => void = () => {};
    const onSignal = () => {
      stop = true;
      wake();
    };
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    let last: TopSnapshot | undefined;
    try {
      while (!stop) {
        last = await snapshot(node, target, last);
        const screen = render(last, {
          ...options,
          width: process.stdout.columns,
        });
        process.stdout.write(
          tty ? `\x1b[H\x1b[2J${screen}\n` : `${screen}\n\n`,
        );
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, interval);
        });
      }
    } catch (e) {
      console.error(`lost ${target}: ${(e as Error).message}`);
      return 1;
    } finally {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
    return 0;
  } finally {
    await node.stop();
  }
}

if (
  isMain(
    import.meta.url,
    "node/top_main",
    (import.meta as { main?: boolean }).main,
  )
) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
