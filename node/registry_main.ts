#!/usr/bin/env node
/**
 * The registry daemon's command line (the npm bin `noderl-registry`): an
 * EPMD-compatible port mapper, as `epmd` runs.
 *
 * ```sh
 * deno run -A node/registry_main.ts [--port 4369] [--address 127.0.0.1] [--debug] [--relaxed]
 * node --import tsx node/registry_main.ts …     # or, installed from npm: npx noderl-registry …
 * deno run -A node/registry_main.ts --names      # what `epmd -names` shows
 * ```
 *
 * It honours `ERL_EPMD_PORT`, prints one line when it listens, and stops
 * cleanly on SIGINT and SIGTERM. The daemon itself is `registry.ts`
 * ({@linkcode startRegistry}).
 *
 * @module
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { isMain } from "./_main.ts";
import { isPort } from "./_epmd.ts";
import { VERSION } from "./_version.ts";
import { type Registry, startRegistry } from "./registry.ts";
import { defaultRegistryPort, listNames } from "./registry_client.ts";

const USAGE =
  `usage: noderl-registry [--port PORT] [--address ADDRESS] [--debug] [--relaxed]
                       [--packet-timeout SECONDS]
       noderl-registry --names [--port PORT] [--address ADDRESS]

The noderl registry daemon: an EPMD-compatible port mapper.

  --port PORT          port to listen on (default: ERL_EPMD_PORT, else 4369)
  --address ADDRESS    address to listen on (default 127.0.0.1; 0.0.0.0, or ::
                       for IPv6 too, to answer other hosts' lookups — names
                       are still registered from loopback only)
  --debug              log one line per request to standard error
  --relaxed            allow KILL while names are registered, and STOP
                       (as epmd -relaxed_command_check)
  --packet-timeout S   close connections idle for S seconds (default 60)
  --names              ask the registry at ADDRESS:PORT for its names and
                       print them, as epmd -names does
  -h, --help           show this help
  --version            show the version`;

/**
 * Runs the registry command line with `args` (the arguments after the
 * script name) and resolves with the exit code: 2 for bad flags, 1 when
 * the daemon cannot start or `--names` finds no registry. The daemon keeps
 * running until SIGINT, SIGTERM or a KILL request; then the promise
 * resolves with 0.
 */
export async function main(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        port: { type: "string" },
        address: { type: "string" },
        debug: { type: "boolean", default: false },
        relaxed: { type: "boolean", default: false },
        "packet-timeout": { type: "string" },
        names: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
        version: { type: "boolean", default: false },
      },
    }));
  } catch (e) {
    console.error(`noderl-registry: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.version) {
    console.log(`noderl-registry ${VERSION} (noderl)`);
    return 0;
  }
  let port: number;
  try {
    port = values.port === undefined
      ? defaultRegistryPort()
      : Number(values.port);
  } catch (e) {
    console.error(`noderl-registry: ${(e as Error).message}`);
    return 2;
  }
  if (
    !isPort(port, 0) || values.port === ""
  ) {
    console.error(
      `noderl-registry: --port must be a port number from 0 to 65535, got "${values.port}"`,
    );
    return 2;
  }
  let packetTimeoutMs = 60_000;
  if (values["packet-timeout"] !== undefined) {
    const s = Number(values["packet-timeout"]);
    if (!(s > 0)) {
      console.error(
        `noderl-registry: --packet-timeout must be a positive number of seconds, got "${
          values["packet-timeout"]
        }"`,
      );
      return 2;
    }
    packetTimeoutMs = s * 1000;
  }
  const address = values.address ?? "127.0.0.1";

  if (values.names) {
    try {
      const names = await listNames({ host: address, port });
      console.log(`noderl-registry: up and running on port ${port} with data:`);
      for (const n of names) console.log(`name ${n.name} at port ${n.port}`);
      return 0;
    } catch (e) {
      console.error(`noderl-registry: ${(e as Error).message}`);
      return 1;
    }
  }

  let registry: Registry;
  try {
    registry = await startRegistry({
      port,
      address,
      debug: values.debug,
      relaxed: values.relaxed,
      packetTimeoutMs,
      log: (line) => console.error(line),
    });
  } catch (e) {
    console.error(`noderl-registry: ${(e as Error).message}`);
    return 1;
  }
  console.log(
    `noderl-registry: listening on ${registry.address}:${registry.port}${
      values.relaxed ? " (relaxed)" : ""
    }`,
  );
  const onInt = () => stop("SIGINT");
  const onTerm = () => stop("SIGTERM");
  const stop = (signal: string) => {
    console.error(`noderl-registry: stopped on ${signal}`);
    void registry.close();
  };
  process.on("SIGINT", onInt);
  process.on("SIGTERM", onTerm);
  await registry.closed;
  process.off("SIGINT", onInt);
  process.off("SIGTERM", onTerm);
  return 0;
}

if (
  isMain(
    import.meta.url,
    "node/registry_main",
    (import.meta as { main?: boolean }).main,
  )
) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
