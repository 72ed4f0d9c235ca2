/**
 * The noderl side of tests/soak_mixed.ts (a chaos/soak script, not a unit
 * test): the module `noderl_soak`, the same functions as
 * tests/beam/noderl_soak.erl. The controller calls `noderl_soak.Op(...)` on
 * a source node, which does the operation towards a target node and answers
 * `ok` or `{fail, Text}`.
 *
 * @module
 */
import process from "node:process";
import {
  type Atom,
  atom,
  compareTerms,
  exit,
  ExitError,
  Float,
  flush,
  formatTerm,
  ImproperList,
  monitor,
  type Node,
  Pid,
  receive,
  type Ref,
  RemoteError,
  self,
  send,
  sleep,
  trapExit,
  Tuple,
  tuple,
  whereisGlobal,
} from "../node/mod.ts";
import { registerGlobal, unregisterGlobal } from "../node/global.ts";
import { pgScope } from "../node/pg.ts";
import { GenServer, type GenServerImpl } from "../gen/mod.ts";

const T = 5000;
const A = (s: string): Atom => atom(s);
const OK = A("ok");

/** `{fail, Text}` */
function fail(text: string): Tuple {
  return tuple(A("fail"), text);
}

function fmt(t: unknown): string {
  try {
    return formatTerm(t).slice(0, 300);
  } catch {
    return String(t).slice(0, 300);
  }
}

function same(a: unknown, b: unknown): boolean {
  try {
    return compareTerms(a, b, { exact: true }) === 0;
  } catch {
    return false;
  }
}

function isT(m: unknown, tag: string, len: number): m is Tuple {
  return m instanceof Tuple && m.length === len && m[0] === A(tag);
}

/** receive, or undefined after `ms`. */
async function recv(
  matcher: (m: unknown) => boolean,
  ms: number,
): Promise<unknown> {
  try {
    return await receive(matcher, ms);
  } catch (e) {
    if (e instanceof Error && e.name === "TimeoutError") return undefined;
    throw e;
  }
}

/** `ok`, or `{fail, …}` naming the first failing check. */
async function checks(
  list: [string, () => unknown, unknown][],
): Promise<unknown> {
  for (const [what, f, want] of list) {
    let got: unknown;
    try {
      got = await f();
    } catch (e) {
      got = `threw ${e instanceof Error ? `${e.name}: ${e.message}` : e}`;
    }
    if (!same(got, want)) {
      return fail(`${what}: wanted ${fmt(want)}, got ${fmt(got)}`);
    }
  }
  return OK;
}

async function poll(
  f: () => unknown,
  want: unknown,
  times: number,
  what: string,
): Promise<unknown> {
  let got: unknown;
  for (let k = 0; k < times; k++) {
    try {
      got = await f();
    } catch (e) {
      got = `threw ${e}`;
    }
    if (same(got, want)) return OK;
    await sleep(100);
  }
  return fail(`${what}: still ${fmt(got)}, wanted ${fmt(want)}`);
}

/** The noderl end of the soak: defines `noderl_soak` on `node`. */
export default function setup(node: Node): void {
  const events = new Map<string, [number, number]>();
  const bump = (n: string, i: 0 | 1) => {
    const e = events.get(n) ?? [0, 0];
    e[i]++;
    events.set(n, e);
  };
  node.on("nodeup", (n: string) => bump(n, 0));
  node.on("nodedown", (n: string) => bump(n, 1));

  const holder = (): Pid =>
    node.spawn(() => recv((m) => m === A("stop"), 20000));
  const call = (t: string, f: string, args: unknown[]) =>
    node.call(t, "noderl_soak", f, args, T);

  // soak_echo: as echo_loop/1 of noderl_soak.erl.
  const echoState = new Map<string, [number, unknown[]]>();
  const echo = node.spawn(async () => {
    for (;;) {
      const m = await receive();
      if (isT(m, "hello", 2)) send(m[1] as Pid, tuple(A("hello_ack"), self()));
      else if (isT(m, "seq", 4)) {
        const from = m[1] as Pid, i = m[2] as number;
        const [last, errs] = echoState.get(from.key) ?? [0, []];
        if (i !== last + 1) {
          errs.push(tuple(A("expected"), last + 1, A("got"), i));
        }
        echoState.set(from.key, [i, errs]);
        send(from, tuple(A("ack"), i));
      } else if (isT(m, "done", 3)) {
        const from = m[1] as Pid;
        const [last, errs] = echoState.get(from.key) ?? [0, []];
        echoState.delete(from.key);
        send(from, tuple(A("done_ack"), m[2], last, errs));
      }
    }
  });
  node.register("soak_echo", echo);

  const gs: GenServerImpl<null, null> = {
    module: "noderl_soak",
    init: () => ({ ok: true, state: null }),
    handleCall: async (req, _from, state) => {
      if (isT(req, "echo", 2)) return { reply: req[1], state };
      if (isT(req, "sleep", 2)) {
        await sleep(req[1] as number);
        return { reply: A("slept"), state };
      }
      return { reply: A("what"), state };
    },
  };
  const gsStarted = GenServer.start(node, gs, null, { name: "soak_gs" });
  const pg = pgScope("pg", { node, start: true });

  const victim = async (parent: unknown, name: unknown) => {
    if (name !== A("undefined")) node.register(name as Atom, self());
    send(parent as Pid, tuple(A("victim_ready"), self()));
    const m = await recv((m) => isT(m, "die", 2), 30000);
    exit(m === undefined ? A("victim_timeout") : (m as Tuple)[1]);
  };

  node.defineModule("noderl_soak", {
    setup: async () => {
      await gsStarted;
      return OK;
    },
    echo: (x: unknown) => x,
    raise: (kind: unknown, x: unknown) => {
      if (kind === A("exit")) exit(x);
      throw new Error(`raised ${fmt(x)}`);
    },
    victim,

    async seq(
      target: unknown,
      n: number,
      mask: number,
      big: number,
      bigSize: number,
    ) {
      const t = String(target), me = self();
      const payload = "p".repeat(bigSize);
      send(["soak_echo", t], tuple(A("hello"), me));
      const hello = await recv((m) => isT(m, "hello_ack", 2), T) as
        | Tuple
        | undefined;
      if (hello === undefined) return fail(`no hello_ack from ${t}`);
      const echoPid = hello[1] as Pid;
      for (let i = 1; i <= n; i++) {
        const msg = tuple(
          A("seq"),
          me,
          i,
          big > 0 && i % big === 0 ? payload : "",
        );
        if ((mask >> (i % 16)) & 1) send(echoPid, msg);
        else send(["soak_echo", t], msg);
      }
      let r: unknown = OK;
      for (let i = 1; i <= n && r === OK; i++) {
        const m = await recv((m) => isT(m, "ack", 2), T) as Tuple | undefined;
        if (m === undefined) r = fail(`ack ${i} of ${n} never came`);
        else if (m[1] !== i) r = fail(`ack ${m[1]} where ${i} was expected`);
      }
      send(echoPid, tuple(A("done"), me, n));
      const d = await recv((m) => isT(m, "done_ack", 4), T) as
        | Tuple
        | undefined;
      if (d === undefined) return fail(`no done_ack from ${t}`);
      if (r !== OK) return r;
      if (d[2] !== n || (d[3] as unknown[]).length !== 0) {
        return fail(
          `echo on ${t} saw last ${d[2]} of ${n}, errors ${fmt(d[3])}`,
        );
      }
      const extra = await recv((m) => isT(m, "ack", 2), 50);
      if (extra !== undefined) return fail(`extra ${fmt(extra)} after ${n}`);
      return OK;
    },

    rpc(target: unknown, x: unknown) {
      const t = String(target);
      const kindOf = async (p: Promise<unknown>) => {
        try {
          return tuple(A("returned"), await p);
        } catch (e) {
          if (e instanceof RemoteError) {
            return tuple(A(e.kind), e.kind === "exit" ? e.reason : A("_"));
          }
          return `threw ${e}`;
        }
      };
      return checks([
        ["node", () => node.call(t, "erlang", "node", [], T), A(t)],
        ["self", async () => {
          const p = await node.call(t, "erlang", "self", [], T);
          return p instanceof Pid ? A(p.node) : p;
        }, A(t)],
        ["apply", () =>
          node.call(t, "erlang", "apply", [
            A("noderl_soak"),
            A("echo"),
            [x],
          ], T), x],
        [
          "nodes",
          async () =>
            ((await node.call(t, "erlang", "nodes", [], T)) as unknown[])
              .includes(A(node.name)),
          true,
        ],
        ["echo", () => call(t, "echo", [x]), x],
        [
          "raise_exit",
          () => kindOf(call(t, "raise", [A("exit"), x])),
          tuple(A("exit"), x),
        ],
        [
          "raise_error",
          () => kindOf(call(t, "raise", [A("error"), x])),
          tuple(A("error"), A("_")),
        ],
        ["undef", async () => {
          try {
            return await call(t, "nope", [x]);
          } catch (e) {
            return e instanceof RemoteError && e.kind === "error"
              ? e.reason
              : `${e}`;
          }
        }, A("undef")],
      ]);
    },

    async multicall(targets: unknown, x: unknown) {
      const ts = (targets as unknown[]).map(String);
      const rs = await Promise.allSettled(ts.map((t) => call(t, "echo", [x])));
      const bad = rs.map((r, i) => [ts[i], r] as const).filter(([, r]) =>
        r.status === "rejected" || !same(r.value, x)
      );
      if (bad.length > 0) {
        return fail(
          `multicall echo: ${
            bad.map(([t, r]) =>
              `${t}: ${
                r.status === "rejected" ? String(r.reason) : fmt(r.value)
              }`
            ).join("; ")
          }`,
        );
      }
      return OK;
    },

    async link(target: unknown, how: number, tag: number) {
      const t = String(target);
      trapExit(true);
      const name = how === 4 ? A(`soak_victim_${tag}`) : A("undefined");
      const pid = await node.spawnLink(t, "noderl_soak", "victim", [
        self(),
        name,
      ]);
      const ready = await recv(
        (m) =>
          (isT(m, "victim_ready", 2) && (m[1] as Pid).equals(pid)) ||
          (isT(m, "EXIT", 3) && m[1] instanceof Pid && m[1].equals(pid)),
        T,
      ) as Tuple | undefined;
      if (ready === undefined) return fail(`victim on ${t} never ready`);
      if (ready[0] === A("EXIT")) {
        return fail(`victim on ${t} died at once: ${fmt(ready[2])}`);
      }
      const ref: Ref = how === 4 ? monitor([name, t]) : monitor(pid);
      const custom = tuple(
        A("custom"),
        tag,
        "bin",
        new Float(1),
        new ImproperList([A("a")], A("b")),
      );
      let want: unknown;
      switch (how) {
        case 0:
          send(pid, tuple(A("die"), A("normal")));
          want = A("normal");
          break;
        case 2:
          exit(pid, A("kill"));
          want = A("killed");
          break;
        case 3:
          want = tuple(A("shutdown"), custom);
          exit(pid, want);
          break;
        default:
          send(pid, tuple(A("die"), custom));
          want = custom;
      }
      const obj = how === 4 ? tuple(name, A(t)) : pid;
      const isExit = (m: unknown) =>
        isT(m, "EXIT", 3) && m[1] instanceof Pid && m[1].equals(pid);
      const isDown = (m: unknown) =>
        isT(m, "DOWN", 5) && (m[1] as Ref).equals(ref);
      const ex = await recv(isExit, T) as Tuple | undefined;
      if (ex === undefined) return fail(`no EXIT (how ${how})`);
      if (!same(ex[2], want)) {
        return fail(`EXIT ${fmt(ex[2])}, wanted ${fmt(want)}`);
      }
      const down = await recv(isDown, T) as Tuple | undefined;
      if (down === undefined) return fail(`no DOWN (how ${how})`);
      if (!same(down[4], want) || !same(down[3], obj)) {
        return fail(
          `DOWN ${fmt(down[3])} ${fmt(down[4])}, wanted ${fmt(obj)} ${
            fmt(want)
          }`,
        );
      }
      const dup = await recv((m) => isExit(m) || isDown(m), 100);
      if (dup !== undefined) return fail(`second signal ${fmt(dup)}`);
      return OK;
    },

    async global(target: unknown, tag: number) {
      const t = String(target);
      const name = tuple(A("soak"), A(node.name), tag);
      const h = holder();
      if (!await registerGlobal(name, h)) {
        return fail(`registerGlobal ${fmt(name)}: false`);
      }
      const r = await checks([
        [
          "where",
          () =>
            poll(() => call(t, "gwhere", [name]), h, 30, `not seen on ${t}`),
          OK,
        ],
        ["conflict", () => call(t, "greg_other", [name]), A("no")],
      ]);
      if (r !== OK) {
        await unregisterGlobal(name);
        return r;
      }
      if (tag % 2 === 0) {
        await unregisterGlobal(name);
        send(h, A("stop"));
        return checks([[
          "gone",
          () => call(t, "gwhere", [name]),
          A("undefined"),
        ]]);
      }
      exit(h, A("kill"));
      return poll(
        () => call(t, "gwhere", [name]),
        A("undefined"),
        40,
        `holder killed, name stays: ${fmt(name)}`,
      );
    },
    gwhere: (name: unknown) => whereisGlobal(name, node) ?? A("undefined"),
    async greg_other(name: unknown) {
      const h = holder();
      const r = await registerGlobal(name, h);
      node.exit(h, A("kill"));
      return A(r ? "yes" : "no");
    },

    async pg(target: unknown, tag: number) {
      const t = String(target);
      const group = tuple(A("soak"), A(node.name), tag);
      const m = holder();
      pg.join(group, m);
      const r = await poll(
        () => call(t, "pg_members", [group]),
        [m],
        40,
        `pg join ${fmt(group)}`,
      );
      if (r !== OK) {
        node.exit(m, A("kill"));
        return r;
      }
      if (tag % 2 === 0) {
        pg.leave(group, m);
        send(m, A("stop"));
      } else node.exit(m, A("kill"));
      return poll(
        () => call(t, "pg_members", [group]),
        [],
        40,
        `pg leave ${fmt(group)}`,
      );
    },
    pg_members: (group: unknown) => pg.getMembers(group),

    async gen(target: unknown, how: number, x: unknown) {
      const t = String(target);
      const reasonOf = async (p: Promise<unknown>) => {
        try {
          return tuple(A("returned"), await p);
        } catch (e) {
          if (e instanceof ExitError) {
            const r = e.reason;
            return r instanceof Tuple ? r[0] : r;
          }
          return `threw ${e}`;
        }
      };
      if (how === 0) {
        return checks([[
          "echo",
          () => GenServer.call(["soak_gs", t], tuple(A("echo"), x), T),
          x,
        ]]);
      }
      if (how === 1) {
        const r = await reasonOf(
          GenServer.call(["soak_gs", t], tuple(A("sleep"), 300), 100),
        );
        if (r !== A("timeout")) return fail(`sleep call: ${fmt(r)}`);
        await sleep(500);
        const late = flush();
        if (late.length > 0) {
          return fail(`late message after timeout: ${fmt(late)}`);
        }
        return OK;
      }
      const r = await reasonOf(GenServer.call(["soak_nope", t], A("x"), 1000));
      return r === A("noproc") ? OK : fail(`call to nobody: ${fmt(r)}`);
    },

    async watch(victimNode: unknown) {
      const v = String(victimNode);
      const parent = self();
      const w = node.spawn(async () => {
        trapExit(true);
        const p = await node.spawnLink(v, "noderl_soak", "victim", [
          self(),
          A("undefined"),
        ]);
        await recv((m) => isT(m, "victim_ready", 2), T);
        const ref = monitor(p);
        const refN = monitor(["soak_echo", v]);
        node.monitorNode(v);
        send(parent, tuple(A("watching"), self()));
        const evs: unknown[] = [];
        for (;;) {
          const m = await recv(() => true, 60000);
          if (m === undefined) return;
          if (isT(m, "EXIT", 3) && (m[1] as Pid).equals(p)) {
            evs.push(tuple(A("exit"), m[2]));
          } else if (isT(m, "DOWN", 5) && (m[1] as Ref).equals(ref)) {
            evs.push(tuple(A("down"), m[4]));
          } else if (isT(m, "DOWN", 5) && (m[1] as Ref).equals(refN)) {
            evs.push(tuple(A("down_name"), m[4]));
          } else if (isT(m, "nodedown", 2) && m[1] === A(v)) {
            evs.push(A("nodedown"));
          } else if (isT(m, "result", 2)) {
            send(m[1] as Pid, tuple(A("events"), self(), evs));
            return;
          } else evs.push(tuple(A("other"), m));
        }
      });
      const ok = await recv(
        (m) => isT(m, "watching", 2) && (m[1] as Pid).equals(w),
        T,
      );
      return ok === undefined ? fail(`watch ${v}: not ready`) : w;
    },
    async watch_result(w: unknown) {
      send(w as Pid, tuple(A("result"), self()));
      const m = await recv((m) => isT(m, "events", 3), 2000) as
        | Tuple
        | undefined;
      return m === undefined ? A("gone") : m[2];
    },
    node_events: () => [...events].map(([n, [u, d]]) => tuple(A(n), u, d)),
    stats: () => {
      const gc = (globalThis as { gc?: () => void }).gc;
      if (typeof gc === "function") gc();
      const m = process.memoryUsage();
      return [
        node.liveProcesses().length,
        m.rss,
        m.heapUsed,
        m.external,
        m.arrayBuffers,
      ];
    },
    connect: (n: unknown) => node.connect(String(n)),
    disconnect: (n: unknown) => node.disconnect(String(n)),
    async conflict_reg(name: unknown) {
      const h = node.spawn(() => recv((m) => m === A("stop"), 60000));
      if (await registerGlobal(name, h)) return h;
      node.exit(h, A("kill"));
      return A("no");
    },
    alive: (pid: unknown) => node.isAlive(pid as Pid),
    peers: () => node.nodes().sort().map((n) => A(n)),
    async hold(tag: unknown) {
      const parent = self();
      const name = tuple(A("soak_held"), A(node.name), tag);
      const h = node.spawn(async () => {
        if (!await registerGlobal(name, self())) return;
        pg.join(name, self());
        send(parent, tuple(A("held"), self()));
        await receive((m) => m === A("stop"));
      });
      const ok = await recv(
        (m) => isT(m, "held", 2) && (m[1] as Pid).equals(h),
        T,
      );
      return ok === undefined ? fail("hold: not ready") : h;
    },
  });
}
