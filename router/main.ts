#!/usr/bin/env node
/**
 * A KV node from the command line: a named node running the KV registry,
 * the router and the text-protocol server.
 *
 *   noderl-kv --sname foo --port 4040 --table "a-m=foo@HOST,n-z=bar@HOST"   (npm's bin)
 *   deno run -A router/main.ts --sname foo …                               (from a clone)
 *
 * @module
 */
import process from "node:process";
import { parseArgs } from "node:util";
import {
  NODE_FLAGS,
  NODE_FLAGS_USAGE,
  startNodeFromFlags,
  versionText,
} from "../node/_cli.ts";
import { isPort } from "../node/_epmd.ts";
import { startKVNode } from "./kv_node.ts";
import { parseTable } from "./table.ts";
import { isMain } from "../node/_main.ts";

const BIN = "noderl-kv";
const USAGE =
  `usage: ${BIN} (--sname NAME | --name NAME@HOST) --port TCP_PORT --table TABLE
                 [--cookie C] [--registry-port P] [--address A] [--port-range MIN-MAX]
                 [--tls-cert F --tls-key F --tls-ca F | --tls-optfile F]
       ${BIN} --help | --version

${NODE_FLAGS_USAGE}
                      (--address is also where the text protocol listens;
                      default 127.0.0.1)
  --table   which node owns which buckets, by the bucket name's first byte:
            "a-m=foo@HOST,n-z=bar@HOST" (ranges of characters, or bytes like 0-96)
  --port    TCP port for the text protocol (CREATE b | PUT b k v | GET b k | DELETE b k)

The node registers with the registry at --registry-port, else ERL_EPMD_PORT,
else 4369: start one with noderl-registry (or epmd) first. The nodes of the
table share a cookie: --cookie, else NODERL_COOKIE, else ~/.erlang.cookie.`;

/** Runs the KV node CLI with `argv`; resolves with the exit code once it stops. */
export async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        ...NODE_FLAGS,
        port: { type: "string" },
        table: { type: "string" },
      },
    }));
  } catch (e) {
    console.error(`${BIN}: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.version) {
    console.log(versionText(BIN));
    return 0;
  }
  const port = Number(values.port);
  if (!values.port || !isPort(port, 0)) {
    console.error(
      `--port must be a TCP port number, got ${
        values.port ?? "nothing"
      }\n${USAGE}`,
    );
    return 2;
  }
  if (!values.table) {
    console.error(`--table is required\n${USAGE}`);
    return 2;
  }
  let table;
  try {
    table = parseTable(values.table);
  } catch (e) {
    console.error((e as Error).message);
    return 2;
  }
  const node = await startNodeFromFlags(values, USAGE);
  if (typeof node === "number") return node;
  let kv;
  try {
    kv = await startKVNode(node, { table, port, address: values.address });
  } catch (e) {
    console.error((e as Error).message);
    await node.stop();
    return 1;
  }
  // Handlers first: a SIGTERM right after the announcement must not be lost.
  const stopped = new Promise<void>((resolve) => {
    process.once("SIGINT", () => resolve());
    process.once("SIGTERM", () => resolve());
  });
  console.log(
    `${node.name} serving KV on ${values.address ?? "127.0.0.1"}:${
      kv.server!.port
    }`,
  );
  await stopped;
  await kv.server!.close();
  await node.stop();
  return 0;
}

if (
  isMain(
    import.meta.url,
    "router/main",
    (import.meta as { main?: boolean }).main,
  )
) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
