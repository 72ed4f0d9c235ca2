/**
 * The peer node script that {@linkcode startPeers} runs in a child process:
 * starts a node, loads modules into it from a file, prints a ready line,
 * and runs until SIGTERM, SIGINT or (with `--watch-stdin`) the end of its
 * standard input — so a peer never outlives the process that started it.
 *
 *   deno run -A node/peer_main.ts --name kate@localhost --registry-port 4370 --modules ./kate.ts
 *   node dist/node/peer_main.js --name kate@localhost --modules ./kate.js
 *
 * The modules file's default export (or its export `setup`) is called with
 * the started {@linkcode Node}, e.g. `(node) => node.defineModule("Kate", …)`.
 * The cookie comes from `--cookie`, else `NODERL_COOKIE`, else
 * `~/.erlang.cookie`, as for {@linkcode startNode}.
 *
 * It is a program, not a library: loading it runs it.
 *
 * @module
 */
import { isAbsolute, resolve } from "node:path";
import process from "node:process";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { isPort } from "./_epmd.ts";
import { type Node, startNode } from "./node.ts";

/** The line a peer prints once it is ready: `noderl peer ready NAME PORT`. */
const READY_PREFIX = "noderl peer ready ";

const USAGE =
  `usage: peer_main.ts --name NAME[@HOST] [--registry-port PORT] [--cookie COOKIE]
                    [--modules FILE_OR_URL] [--hidden] [--watch-stdin]

Starts a noderl peer node: registers NAME (host localhost if none is given)
with the registry on PORT (default: ERL_EPMD_PORT, else 4369), loads the
modules file (its default export, or export "setup", is called with the node),
prints "${READY_PREFIX}NAME PORT", and runs until SIGTERM or SIGINT.

  --name NAME[@HOST]    the node name
  --registry-port PORT  the registry's port
  --cookie COOKIE       the cookie (default: NODERL_COOKIE, else ~/.erlang.cookie)
  --modules FILE_OR_URL a module whose default export sets up the node
  --hidden              start a hidden node
  --watch-stdin         stop when standard input ends (the parent is gone)
  -h, --help            show this help`;

/** A modules file's setup function. */
type PeerSetup = (node: Node) => void | Promise<void>;

/** Loads the setup function from a modules file (a path or a URL). */
async function loadSetup(spec: string): Promise<PeerSetup> {
  const url = /^[a-z][a-z0-9+.-]*:/i.test(spec) && !/^[a-z]:[\\/]/i.test(spec)
    ? spec
    : pathToFileURL(isAbsolute(spec) ? spec : resolve(spec)).href;
  const mod = await import(url) as { default?: unknown; setup?: unknown };
  const setup = typeof mod.default === "function" ? mod.default : mod.setup;
  if (typeof setup !== "function") {
    throw new TypeError(
      `${spec} must export a function (node) => void as its default export or as "setup"`,
    );
  }
  return setup as PeerSetup;
}

/**
 * Runs the peer command line with `args`; resolves with the exit code once
 * the node has stopped.
 */
async function main(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        name: { type: "string" },
        "registry-port": { type: "string" },
        cookie: { type: "string" },
        modules: { type: "string" },
        hidden: { type: "boolean", default: false },
        "watch-stdin": { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    }));
  } catch (e) {
    console.error(`noderl peer: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!values.name) {
    console.error(`noderl peer: --name is required\n${USAGE}`);
    return 2;
  }
  let registryPort: number | undefined;
  if (values["registry-port"] !== undefined) {
    registryPort = Number(values["registry-port"]);
    if (!isPort(registryPort, 1)) {
      console.error(
        `noderl peer: --registry-port must be a port number, got ${
          values["registry-port"]
        }`,
      );
      return 2;
    }
  }
  const name = values.name.includes("@")
    ? values.name
    : `${values.name}@localhost`;

  let node: Node;
  try {
    const setup = values.modules ? await loadSetup(values.modules) : undefined;
    node = await startNode({
      name,
      cookie: values.cookie,
      registryPort,
      hidden: values.hidden,
    });
    try {
      await setup?.(node);
    } catch (e) {
      await node.stop();
      throw e;
    }
  } catch (e) {
    console.error(
      `noderl peer ${name}: cannot start: ${(e as Error)?.stack ?? String(e)}`,
    );
    return 1;
  }

  let stopping: Promise<void> | undefined;
  let stopped!: () => void;
  const done = new Promise<void>((resolve) => (stopped = resolve));
  const onSignal = () => {
    stopping ??= node.stop().catch(() => {}).then(stopped);
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  if (values["watch-stdin"]) {
    process.stdin.on("end", onSignal);
    process.stdin.on("close", onSignal);
    process.stdin.on("error", onSignal);
    process.stdin.resume();
  }
  process.stdout.write(`${READY_PREFIX}${node.name} ${node.port}\n`);
  await done;
  process.off("SIGTERM", onSignal);
  process.off("SIGINT", onSignal);
  return 0;
}

// A script, never imported (no exports): it runs when loaded. It uses no
// import.meta, so that its CJS build is valid too.
main(process.argv.slice(2)).then((code) => process.exit(code));
