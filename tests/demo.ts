/**
 * `npm run demo`: the seeds' scenarios on one machine — a registry daemon
 * and several noderl nodes in their own processes (plus an Elixir node when
 * `elixir` is installed), driven from this script's node, `alex`.
 *
 * @module
 */
import { spawn } from "node:child_process";
import { connect } from "node:net";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import {
  atom,
  describeReason,
  ExitError,
  listNames,
  type Peer,
  receive,
  Ref,
  self,
  send,
  startNode,
  startPeer,
  Task,
  TaskSupervisor,
  Tuple,
  tuple,
} from "../mod.ts";
import { route, startRouter } from "../router/mod.ts";
import { sendMessage, startChat } from "../chat/mod.ts";
import { elixirPath, startBeamNode } from "./_beam.ts";

const here = dirname(fileURLToPath(import.meta.url));
const isDeno = "Deno" in globalThis;
const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s: string) => (process.stdout.isTTY ? `\x1b[2m${s}\x1b[0m` : s);
const section = (title: string) => console.log(`\n${bold(`== ${title}`)}`);
const say = (s: string) => console.log(dim(`   ${s}`));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  const { createServer } = await import("node:net");
  return await new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

/** The registry daemon, as its own process (`node/registry_main.ts --port P`). */
async function startDaemon(port: number) {
  const script = join(here, "..", "node", "registry_main.ts");
  const args = isDeno
    ? ["run", "-A", script, "--port", String(port)]
    : [...process.execArgv, script, "--port", String(port)];
  const child = spawn(process.execPath, args, {
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (d) => {
      process.stdout.write(`   [registry] ${d}`);
      resolve();
    });
    child.on(
      "exit",
      (code) => reject(new Error(`the registry exited with ${code}`)),
    );
  });
  return () =>
    new Promise<void>((resolve) => {
      child.on("exit", () => resolve());
      child.kill("SIGTERM");
    });
}

const registryPort = await freePort();
const cookie = "demo-cookie";
const peers: Peer[] = [];
const stops: Array<() => Promise<void>> = [];

section("A registry daemon (EPMD protocol) and named nodes");
stops.push(await startDaemon(registryPort));
const startDemoPeer = async (
  name: string,
  env: Record<string, string> = {},
) => {
  const peer = await startPeer({
    name,
    registryPort,
    cookie,
    modules: join(here, "demo_modules.ts"),
    env,
    echo: (line) => console.log(`   [${name}] ${line}`),
  });
  peers.push(peer);
  return peer;
};
const alex = await startNode({
  name: "alex@localhost",
  cookie,
  registryPort,
  stdout: (t) => process.stdout.write(`   [alex] ${t}`),
  log: (m) => console.log(`   [alex log] ${m}`),
});
await startChat(alex);
await startDemoPeer("kate");
await startDemoPeer("moebi");
say(`this script is ${alex.name}; kate and moebi run in their own processes`);
const names = await listNames({ port: registryPort });
say(
  `epmd -names: ${names.map((n) => `${n.name} at port ${n.port}`).join(", ")}`,
);

try {
  section(
    "Node.spawn_link(:kate@localhost, Kate, :say_name, []) — output on the caller",
  );
  const pid = await alex.spawnLink("kate@localhost", "Kate", "say_name", []);
  await sleep(100);
  say(
    `returned ${pid}: the function ran on kate, its group leader is alex's, so it printed here`,
  );

  section("Responding to messages: {:hi, self()} → :sup?");
  const waiter = await alex.spawnLink("kate@localhost", "Kate", "wait_hi", []);
  send(waiter, tuple(atom("hi"), self()));
  say(`flush() → ${String(await receive((m) => m === atom("sup?"), 5000))}`);

  section(":rpc.call(:kate@localhost, Hello, :world, [])");
  say(
    `returned ${
      String(await alex.call("kate@localhost", "Hello", "world", []))
    }`,
  );

  section("Cookies: only nodes with the same cookie connect");
  const stranger = await startNode({
    name: "stranger@localhost",
    cookie: "another-cookie",
    registryPort,
    log: (m) => say(`stranger: ${m}`),
  });
  say(
    `Node.connect(:kate@localhost) from stranger → ${await stranger.connect(
      "kate@localhost",
    )}`,
  );
  await stranger.stop();

  section("Distributed tasks: Task.Supervisor on another node");
  const task = TaskSupervisor.async(
    ["Elixir.Chat.TaskSupervisor", "kate@localhost"],
    "erlang",
    "node",
    [],
  );
  say(
    `Task.await(Task.Supervisor.async({Chat.TaskSupervisor, :kate@localhost}, :erlang, :node, [])) → ${
      String(await Task.await(task))
    }`,
  );

  section("Chat: alex → kate, kate → alex, alex → moebi");
  await sendMessage("kate@localhost", "hi");
  await alex.call("kate@localhost", "Elixir.Chat", "send_message", [
    atom("alex@localhost"),
    "how are you?",
  ]);
  await sendMessage("moebi@localhost", "hi");
  say("moebi printed hi; his answer, chicken?, came back to alex");

  section("The routing layer: buckets a-m on foo, n-z on bar");
  const table = "a-m=foo@localhost,n-z=bar@localhost";
  const [fooPort, barPort] = [await freePort(), await freePort()];
  await startDemoPeer("foo", {
    DEMO_KV_TABLE: table,
    DEMO_KV_PORT: String(fooPort),
  });
  await startDemoPeer("bar", {
    DEMO_KV_TABLE: table,
    DEMO_KV_PORT: String(barPort),
  });
  await startRouter(alex, { table });
  say(
    `route("hello", Kernel, :node, []) → ${
      String(await route("hello", "erlang", "node", []))
    }`,
  );
  say(
    `route("world", Kernel, :node, []) → ${
      String(await route("world", "erlang", "node", []))
    }`,
  );
  try {
    await route("\u0000", "erlang", "node", []);
  } catch (e) {
    say(`route(<<0>>, …) raises: ${(e as Error).message}`);
  }
  const lines = [
    "CREATE shopping",
    "PUT shopping milk 1",
    "GET shopping milk",
    "CREATE zoo",
    "PUT zoo lion 3",
    "GET zoo lion",
    "GET nothing x",
    "HELLO",
  ];
  say(
    `a client talks to foo's KV server (port ${fooPort}); "zoo" lives on bar:`,
  );
  const replies = await new Promise<string>((resolve) => {
    const s = connect(fooPort, "127.0.0.1");
    let text = "";
    s.setEncoding("utf8");
    s.on("data", (d) => {
      text += d;
      if (text.endsWith("UNKNOWN COMMAND\r\n")) {
        s.destroy();
        resolve(text);
      }
    });
    s.write(lines.map((l) => `${l}\r\n`).join(""));
  });
  for (const l of lines) say(`> ${l}`);
  for (const r of replies.trimEnd().split("\r\n")) say(`< ${r}`);

  if (elixirPath) {
    section(
      "Elixir joins: the seed's Chat app on an Elixir node, chatting with noderl",
    );
    const ex = await startBeamNode({
      name: "ex@localhost",
      cookie,
      registryPort,
      elixir: `defmodule Chat do
        def receive_message(m), do: IO.puts(m)
        def receive_message_for_moebi(m, from) do
          IO.puts(m)
          send_message(from, "chicken?")
        end
        def send_message(:"moebi@localhost", m), do: spawn_task(:receive_message_for_moebi, :"moebi@localhost", [m, Node.self()])
        def send_message(r, m), do: spawn_task(:receive_message, r, [m])
        defp spawn_task(f, r, a), do: Task.Supervisor.async({Chat.TaskSupervisor, r}, __MODULE__, f, a) |> Task.await()
      end
      {:ok, _} = Supervisor.start_link([{Task.Supervisor, name: Chat.TaskSupervisor}], strategy: :one_for_one)`,
    });
    try {
      await sendMessage("ex@localhost", "hi from TypeScript");
      await ex.waitFor(/hi from TypeScript/, 5000);
      say("ex (Elixir) printed: hi from TypeScript");
      await alex.call("ex@localhost", "Elixir.Chat", "send_message", [
        atom("moebi@localhost"),
        "hi from Elixir",
      ]);
      await ex.waitFor(/chicken\?/, 5000);
      say(
        "ex (Elixir) → moebi (noderl): moebi printed it and ex printed chicken?",
      );
      const pid = await alex.spawnLink("ex@localhost", "Elixir.IO", "puts", [
        "Hi, my name is Ex",
      ]);
      await sleep(100);
      say(
        `Node.spawn_link(:ex@localhost, IO, :puts, [...]) → ${pid}: printed on alex above`,
      );
    } finally {
      await ex.stop();
    }
  } else {
    section("Elixir interop");
    say(
      "elixir is not installed: apt-get install -y erlang-base erlang-nox elixir to see an Elixir node join",
    );
  }

  section(
    "Node down: kill -9 a peer, linked and monitoring processes are told",
  );
  const victim = peers.find((p) => p.name === "moebi@localhost")!;
  const sleeper = await alex.spawnRemote(
    "moebi@localhost",
    "Kate",
    "wait_hi",
    [],
  );
  const ref = alex.monitor(sleeper);
  const t0 = performance.now();
  await victim.kill();
  const down = await receive(
    (m) =>
      m instanceof Tuple && m[0] === atom("DOWN") && m[1] instanceof Ref &&
      m[1].equals(ref),
    5000,
  ) as Tuple;
  say(
    `{:DOWN, ref, :process, ${down[3]}, ${String(down[4])}} ${
      (performance.now() - t0).toFixed(0)
    } ms after SIGKILL`,
  );
  try {
    await sendMessage("moebi@localhost", "are you there?");
  } catch (e) {
    say(
      `Chat.send_message(:moebi@localhost, …) → ${
        e instanceof ExitError ? describeReason(e.reason) : e
      }`,
    );
  }

  section("Testing distributed code");
  say(
    "npm test -- --only distributed     runs the tests tagged distributed (peers start by themselves)",
  );
  say(
    "npm test -- --exclude distributed  skips them, reported as skipped with their tag",
  );
} finally {
  for (const p of peers) await p.stop().catch(() => {});
  await alex.stop();
  for (const s of stops) await s();
}
console.log(`\n${bold("done")}`);
process.exit(0);
