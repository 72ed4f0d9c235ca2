/**
 * Two "hosts" for tests: Linux network namespaces joined by a veth pair,
 * with private test addresses on that pair only (10.77.0.1/24 and
 * 10.77.0.2/24, fd77::1/64 and fd77::2/64), their own `/etc/hosts` (as `ip
 * netns exec` mounts `/etc/netns/NAME/hosts`), a registry each, and agents
 * (tests/_netns_agent.ts) that run noderl nodes inside them. Nothing of the
 * machine's own network is touched. Everything is removed by `remove()`,
 * and by an exit hook if the test dies first.
 *
 * Needs root and `ip` (iproute2); {@linkcode noNetns} says why not.
 *
 * @module
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import process from "node:process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { registryScript, tsRunner } from "./_registry.ts";

const here = dirname(fileURLToPath(import.meta.url));

/** Listens on `::` and on 10.77.9.1 (port 0 each), then exits 0. */
const LISTEN_CHECK = `import("node:net").then(({ createServer }) => {
  const a = createServer().listen(0, "::", () => {
    const b = createServer().listen(0, "10.77.9.1", () => {
      a.close(); b.close();
    });
    b.on("error", (e) => { console.error(e.message); process.exit(1); });
  });
  a.on("error", (e) => { console.error(e.message); process.exit(1); });
});`;

function probe(): string | false {
  if (process.platform !== "linux") return "network namespaces need Linux";
  if (typeof process.getuid === "function" && process.getuid() !== 0) {
    return "network namespace tests need root (CI runs them as root)";
  }
  try {
    execFileSync("ip", ["-V"], { stdio: "pipe" });
  } catch {
    return "`ip` (iproute2) not found: install iproute2 to run the network namespace tests";
  }
  // What the tests do, in little: two namespaces, a veth pair between
  // them, IPv4 and IPv6 addresses on it, a program run inside one. A
  // container may allow some of it and not the rest.
  const ns = [`noderl-probe-${process.pid}-a`, `noderl-probe-${process.pid}-b`];
  const steps: Array<[string, string[]]> = [
    ["create a network namespace", ["netns", "add", ns[0]]],
    ["create a network namespace", ["netns", "add", ns[1]]],
    ["make a veth pair between namespaces", [
      "-n",
      ns[0],
      "link",
      "add",
      "veth-p",
      "type",
      "veth",
      "peer",
      "name",
      "veth-q",
      "netns",
      ns[1],
    ]],
    ["add an IPv4 address in a namespace", [
      "-n",
      ns[0],
      "addr",
      "add",
      "10.77.9.1/24",
      "dev",
      "veth-p",
    ]],
    ["add an IPv6 address in a namespace", [
      "-n",
      ns[0],
      "addr",
      "add",
      "fd77:9::1/64",
      "dev",
      "veth-p",
      "nodad",
    ]],
    ["bring a veth link up", ["-n", ns[0], "link", "set", "veth-p", "up"]],
    ["run a program in a namespace", ["netns", "exec", ns[0], "true"]],
    // What the registries and nodes do there: listen on every address (IPv4
    // and IPv6, as the registry does) and on the test's own address.
    ["listen on :: and on a test address in a namespace (this runtime)", [
      "netns",
      "exec",
      ns[0],
      process.execPath,
      ...("Deno" in globalThis ? ["eval"] : ["-e"]),
      LISTEN_CHECK,
    ]],
  ];
  try {
    try {
      // Each namespace's own /etc/hosts, which `ip netns exec` mounts.
      mkdirSync(`/etc/netns/${ns[0]}`, { recursive: true });
      writeFileSync(`/etc/netns/${ns[0]}/hosts`, "127.0.0.1 localhost\n");
    } catch (e) {
      return `cannot write /etc/netns/${ns[0]}/hosts: ${(e as Error).message}`;
    }
    for (const [what, args] of steps) {
      try {
        execFileSync("ip", args, { stdio: "pipe", timeout: 20_000 });
      } catch (e) {
        const shown = args.map((a) => a.length > 40 ? "…" : a).join(" ");
        return `cannot ${what} here (ip ${shown}): ${
          String((e as { stderr?: unknown }).stderr ?? e).trim()
        }`;
      }
    }
  } finally {
    for (const n of ns) {
      try {
        execFileSync("ip", ["netns", "del", n], { stdio: "pipe" });
      } catch { /* never made */ }
      rmSync(`/etc/netns/${n}`, { recursive: true, force: true });
    }
  }
  return false;
}

/** Why the namespace tests cannot run here, or false. */
export const noNetns: string | false = probe();

/** One end of the network: a namespace, its addresses, what runs in it. */
export interface Host {
  ns: string;
  /** IPv4 address (10.77.0.1 or .2). */
  v4: string;
  /** IPv6 address (fd77::1 or ::2). */
  v6: string;
  /** Runs `cmd args` inside the namespace (in `cwd`, if given). */
  spawn(
    cmd: string,
    args: string[],
    env?: Record<string, string>,
    cwd?: string,
  ): ChildProcess;
  /** Writes the namespace's /etc/hosts. */
  hosts(lines: string): void;
  /** The agent running nodes here (none in a bare network). */
  agent: Agent;
}

/** An agent: nodes inside a namespace, driven by requests. */
export interface Agent {
  request(op: string, args?: Record<string, unknown>): Promise<unknown>;
  /** Events seen so far (nodeup/nodedown/log). */
  events: Array<Record<string, unknown>>;
  /** Waits for an event matching `pred`. */
  waitEvent(
    pred: (e: Record<string, unknown>) => boolean,
    timeoutMs: number,
  ): Promise<Record<string, unknown>>;
}

const ip = (...args: string[]) =>
  execFileSync("ip", args, { stdio: "pipe", encoding: "utf8" });

const live = new Set<{ remove(): void }>();
process.on("exit", () => {
  for (const n of live) n.remove();
});

function startAgent(
  host: Omit<Host, "agent">,
  onAgent: (c: ChildProcess) => void,
): Promise<Agent> {
  const [cmd, pre] = tsRunner();
  const child = host.spawn(cmd, [...pre, join(here, "_netns_agent.ts")]);
  onAgent(child);
  const events: Array<Record<string, unknown>> = [];
  const pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void }
  >();
  const waiters = new Set<() => void>();
  let nextId = 1;
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  let ready!: () => void;
  let failed!: (e: Error) => void;
  const started = new Promise<void>((res, rej) => {
    ready = res;
    failed = rej;
  });
  child.on("exit", (code) => {
    const e = new Error(`agent in ${host.ns} exited (${code}): ${stderr}`);
    failed(e);
    for (const p of pending.values()) p.reject(e);
  });
  createInterface({ input: child.stdout! }).on("line", (line) => {
    let m: Record<string, unknown>;
    try {
      m = JSON.parse(line);
    } catch {
      return;
    }
    if (m.event === "ready") return ready();
    if (m.event !== undefined) {
      events.push(m);
      for (const w of waiters) w();
      return;
    }
    const p = pending.get(m.id as number);
    if (!p) return;
    pending.delete(m.id as number);
    if ("error" in m) p.reject(new Error(String(m.error)));
    else p.resolve(m.ok);
  });
  const agent: Agent = {
    events,
    request(op, args = {}) {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        child.stdin!.write(JSON.stringify({ ...args, id, op }) + "\n");
      });
    },
    waitEvent(pred, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const e = events.find(pred);
          if (e) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve(e);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(`no such event in ${host.ns} within ${timeoutMs} ms`),
          );
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
  };
  return started.then(() => agent);
}

/** The two hosts, and the link between them. */
export interface TestNetwork {
  a: Host;
  b: Host;
  /** The registry port in both namespaces. */
  registryPort: number;
  /** Cuts the link (both ends lose carrier). */
  linkDown(): void;
  /** Restores it. */
  linkUp(): void;
  /** Adds an address to b's end of the link. */
  addAddressB(address: string): void;
  /** Starts another registry in `host`'s namespace; resolves once it listens. */
  startRegistry(
    host: Host,
    port: number,
    address: string,
  ): Promise<ChildProcess>;
  /** Stops everything started in the namespaces and deletes them. */
  remove(): Promise<void>;
}

/**
 * Makes two namespaces `noderl-<pid>-a`/`-b`, the veth pair between them,
 * a registry in each (on every address, port 4369) and an agent in each —
 * or neither, with `bare`.
 */
export async function makeNetwork(
  options: { bare?: boolean } = {},
): Promise<TestNetwork> {
  const tag = `noderl-${process.pid}`;
  const children = new Set<ChildProcess>();
  const agents = new Set<ChildProcess>();
  const names = [`${tag}-a`, `${tag}-b`];
  const cleanup = {
    remove() {
      for (const c of children) {
        try {
          c.kill("SIGKILL");
        } catch { /* gone */ }
      }
      for (const ns of names) {
        // Whatever still runs in the namespace (a daemon a script sent to
        // the background) was started by this test.
        try {
          for (const pid of ip("netns", "pids", ns).split(/\s+/)) {
            if (pid) process.kill(Number(pid), "SIGKILL");
          }
        } catch { /* no such namespace, or gone */ }
        try {
          ip("netns", "del", ns);
        } catch { /* never made */ }
        rmSync(`/etc/netns/${ns}`, { recursive: true, force: true });
      }
    },
  };
  live.add(cleanup);
  const registry = async (
    host: Pick<Host, "spawn" | "ns">,
    port: number,
    address: string,
  ): Promise<ChildProcess> => {
    const [cmd, pre] = tsRunner();
    const reg = host.spawn(cmd, [
      ...pre,
      registryScript,
      "--port",
      String(port),
      "--address",
      address,
    ]);
    await new Promise<void>((resolve, reject) => {
      let out = "";
      reg.stdout!.on("data", (d) => {
        out += d;
        if (/listening/.test(out)) resolve();
      });
      reg.stderr!.on("data", (d) => (out += d));
      reg.on("exit", () => reject(new Error(`registry in ${host.ns}: ${out}`)));
    });
    return reg;
  };
  try {
    for (const ns of names) {
      ip("netns", "add", ns);
      ip("-n", ns, "link", "set", "lo", "up");
    }
    // Made inside the namespaces: the machine's own namespace never sees it.
    ip(
      "-n",
      names[0],
      "link",
      "add",
      "veth-a",
      "type",
      "veth",
      "peer",
      "name",
      "veth-b",
      "netns",
      names[1],
    );
    const hosts: Host[] = [];
    for (const [i, ns] of names.entries()) {
      const dev = i === 0 ? "veth-a" : "veth-b";
      const v4 = `10.77.0.${i + 1}`, v6 = `fd77::${i + 1}`;
      ip("-n", ns, "addr", "add", `${v4}/24`, "dev", dev);
      ip("-n", ns, "addr", "add", `${v6}/64`, "dev", dev, "nodad");
      ip("-n", ns, "link", "set", dev, "up");
      mkdirSync(`/etc/netns/${ns}`, { recursive: true });
      const host: Omit<Host, "agent"> = {
        ns,
        v4,
        v6,
        spawn(cmd, args, env = {}, cwd) {
          const c = spawn("ip", ["netns", "exec", ns, cmd, ...args], {
            env: { ...process.env, ERL_EPMD_PORT: "4369", ...env },
            stdio: "pipe",
            cwd,
          });
          children.add(c);
          c.on("exit", () => children.delete(c));
          return c;
        },
        hosts(lines) {
          writeFileSync(
            `/etc/netns/${ns}/hosts`,
            `127.0.0.1 localhost\n::1 localhost ip6-localhost\n${lines}\n`,
          );
        },
      };
      host.hosts("");
      if (options.bare) {
        hosts.push({ ...host, agent: undefined as unknown as Agent });
        continue;
      }
      // The registry, on every address (IPv4 and IPv6), as epmd listens.
      await registry(host, 4369, "::");
      hosts.push({
        ...host,
        agent: await startAgent(host, (c) => agents.add(c)),
      });
    }
    return {
      startRegistry: registry,
      a: hosts[0],
      b: hosts[1],
      registryPort: 4369,
      linkDown: () => ip("-n", names[0], "link", "set", "veth-a", "down"),
      linkUp: () => ip("-n", names[0], "link", "set", "veth-a", "up"),
      addAddressB: (address) =>
        ip("-n", names[1], "addr", "add", address, "dev", "veth-b", "nodad"),
      async remove() {
        const exits = [...children].map((c) =>
          new Promise<void>((r) => {
            if (c.exitCode !== null || c.signalCode !== null) r();
            else c.on("exit", () => r());
          })
        );
        // Agents stop their nodes when their input ends; the rest (the
        // registries, BEAM nodes) get SIGTERM.
        for (const c of children) {
          if (agents.has(c)) c.stdin?.end();
          else c.kill("SIGTERM");
        }
        const t = setTimeout(() => {
          for (const c of children) c.kill("SIGKILL");
        }, 4000);
        await Promise.race([
          Promise.all(exits),
          new Promise((r) => setTimeout(r, 6000)),
        ]);
        clearTimeout(t);
        cleanup.remove();
        live.delete(cleanup);
      },
    };
  } catch (e) {
    cleanup.remove();
    live.delete(cleanup);
    throw e;
  }
}
