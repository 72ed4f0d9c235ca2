#!/usr/bin/env node
/**
 * An interactive chat node. Each line typed is `NAME message…`: the message
 * goes to the chat node `NAME@<this host>` (or to `NAME` when it is a full
 * `name@host`). Messages received print one a line. Talk to `moebi` and he
 * answers `chicken?`.
 *
 *   noderl-chat --sname alex [--cookie C]              (npm's bin)
 *   deno run -A chat/main.ts --sname alex [--cookie C]   (from a clone)
 *
 * @module
 */
import process from "node:process";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { isMain } from "../node/_main.ts";
import {
  explainFailure,
  NODE_FLAGS,
  NODE_FLAGS_USAGE,
  startNodeFromFlags,
  versionText,
} from "../node/_cli.ts";
import { sendMessage, startChat } from "./chat.ts";

const BIN = "noderl-chat";
const USAGE =
  `usage: ${BIN} (--sname NAME | --name NAME@HOST) [--cookie C] [--registry-port P]
                   [--address A] [--port-range MIN-MAX]
                   [--tls-cert F --tls-key F --tls-ca F | --tls-optfile F]
       ${BIN} --help | --version

${NODE_FLAGS_USAGE}

Type lines like:   kate hi there      (sends "hi there" to kate@<this host>)
                   kate@otherhost hi  (a full node name)
Messages sent to you print one a line. moebi answers everything with "chicken?".
The node registers with the registry at --registry-port, else ERL_EPMD_PORT,
else 4369: start one with noderl-registry (or epmd). Nodes that talk share a
cookie: --cookie, else NODERL_COOKIE, else ~/.erlang.cookie.`;

/** Runs the chat CLI; resolves with the exit code when stdin ends or on a signal. */
export async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: NODE_FLAGS,
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
  const node = await startNodeFromFlags(values, USAGE);
  if (typeof node === "number") return node;
  await startChat(node);
  const host = node.name.slice(node.name.indexOf("@") + 1);
  const pending = new Set<Promise<void>>();
  const stopped = new Promise<void>((resolve) => {
    process.once("SIGINT", () => resolve());
    process.once("SIGTERM", () => resolve());
    const lines = createInterface({ input: process.stdin });
    lines.on("line", (line) => {
      const m = /^\s*(\S+)\s+(.*\S)\s*$/.exec(line);
      if (!m) {
        if (line.trim()) console.error("type: NAME message…");
        return;
      }
      const to = m[1].includes("@") ? m[1] : `${m[1]}@${host}`;
      const sending = sendMessage(to, m[2]).then(
        () => {},
        (e) => console.error(`could not send to ${to}: ${explainFailure(e)}`),
      );
      pending.add(sending);
      sending.finally(() => pending.delete(sending));
    });
    lines.on("close", () => resolve());
  });
  console.error(`chat node ${node.name} ready; type: NAME message…`);
  await stopped;
  await Promise.all(pending); // messages typed before the end still go out
  await node.stop();
  return 0;
}

if (
  isMain(import.meta.url, "chat/main", (import.meta as { main?: boolean }).main)
) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
