import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "node:net";
import process from "node:process";
import { startRegistry } from "./registry.ts";
import { listNames, lookupNode, registerNode } from "./registry_client.ts";

// The full run (≥ 100,000 malformed frames) happens once per `npm test`: the
// runner sets NODERL_HEAVY=1 for one runtime; the other does a quick pass.
const heavy = process.env.NODERL_HEAVY === "1";
const RANDOM = heavy ? 82_000 : 2_000;
const CONCURRENCY = 64;
const PACKET_TIMEOUT_MS = 250;

let seed = 0x2545f491;
function rand(): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 4294967296;
}
const int = (n: number) => Math.floor(rand() * n);
const enc = new TextEncoder();

function framed(body: ArrayLike<number>, length = body.length): Uint8Array {
  const out = new Uint8Array(2 + body.length);
  out[0] = length >>> 8;
  out[1] = length & 255;
  out.set(body, 2);
  return out;
}

function alive2(
  name: Uint8Array,
  port: number,
  extra: Uint8Array = new Uint8Array(0),
  extraLength = extra.length,
): number[] {
  return [
    120,
    port >>> 8,
    port & 255,
    77,
    0,
    0,
    5,
    0,
    5,
    name.length >>> 8,
    name.length & 255,
    ...name,
    extraLength >>> 8,
    extraLength & 255,
    ...extra,
  ];
}

/** One malformed input and how to send it. */
interface Case {
  label: string;
  bytes: Uint8Array;
  /** Half-close after writing; otherwise the packet timeout must end it. */
  end: boolean;
}

/** The cases of OTP's epmd_SUITE (no_data … buffer_overrun_2). */
function* suiteCases(): Generator<Case> {
  const none = new Uint8Array(0);
  yield { label: "no data", bytes: none, end: false };
  yield { label: "no data, closed", bytes: none, end: true };
  yield { label: "one byte", bytes: new Uint8Array([0]), end: false };
  yield { label: "two bytes", bytes: new Uint8Array([0, 3]), end: false };
  yield {
    label: "partial packet",
    bytes: framed(enc.encode("only a few bytes"), 100),
    end: false,
  };
  yield { label: "zero length", bytes: new Uint8Array(10), end: false };
  yield {
    label: "63,000-byte frame",
    bytes: framed(new Uint8Array(63_000).fill(122)),
    end: false,
  };
  yield {
    label: "alive too small 1",
    bytes: framed([120, 3, 232, 77, 0, 0, 5, 0, 5, 0, 0]),
    end: false,
  };
  yield {
    label: "alive too small 2",
    bytes: framed([120, 3, 232, 77, 0, 0, 5, 0, 5]),
    end: false,
  };
  yield {
    label: "name with NUL",
    bytes: framed(alive2(enc.encode("foo\0bar"), 1000)),
    end: false,
  };
  yield {
    label: "name NUL-terminated",
    bytes: framed(alive2(enc.encode("foobar\0"), 1000)),
    end: false,
  };
  yield {
    label: "name too long",
    bytes: framed(alive2(new Uint8Array(600).fill(97), 1000)),
    end: false,
  };
  // buffer_overrun_1: forged extra lengths with no extra bytes.
  const step1 = heavy ? 1 : 97;
  for (let n = 1; n <= 10_000; n += step1) {
    yield {
      label: `forged extra length ${n}`,
      bytes: framed(alive2(enc.encode("gurka"), 4747, undefined, n)),
      end: false,
    };
  }
  // buffer_overrun_2: real extra bytes past what a registration may carry.
  const step2 = heavy ? 1 : 89;
  for (let n = 255 * 4; n <= 10_000; n += step2) {
    yield {
      label: `extra of ${n} bytes`,
      bytes: framed(
        alive2(enc.encode("gurka"), 4747, new Uint8Array(n).fill(255)),
      ),
      end: true,
    };
  }
}

const templates: number[][] = [
  alive2(enc.encode("fuzzy"), 4242),
  alive2(enc.encode("ünï"), 4243, enc.encode("extra")),
  [122, ...enc.encode("survivor")],
  [122, ...enc.encode("fuzzy")],
  [110],
  [100],
  [115, ...enc.encode("survivor")],
];

/** Random, truncated, mutated and length-forged frames. */
function* randomCases(count: number): Generator<Case> {
  for (let i = 0; i < count; i++) {
    const t = templates[int(templates.length)];
    let bytes: Uint8Array;
    let label: string;
    switch (i % 6) {
      case 0: { // random bytes, random length
        bytes = new Uint8Array(int(80));
        for (let j = 0; j < bytes.length; j++) bytes[j] = int(256);
        label = "random bytes";
        break;
      }
      case 1: { // a valid frame cut short
        const full = framed(t);
        bytes = full.subarray(0, int(full.length));
        label = "truncated";
        break;
      }
      case 2: { // a valid frame with bytes changed
        bytes = framed(t).slice();
        for (let k = 1 + int(4); k > 0; k--) {
          bytes[int(bytes.length)] = int(256);
        }
        label = "mutated";
        break;
      }
      case 3: { // a lying length prefix
        const body = t.slice(0, 1 + int(t.length));
        bytes = framed(
          body,
          int(4) === 0 ? int(65536) : body.length + int(8) - 4,
        );
        label = "forged length";
        break;
      }
      case 4: { // a well-framed body of random bytes
        const body = new Uint8Array(1 + int(40));
        for (let j = 0; j < body.length; j++) body[j] = int(256);
        bytes = framed(body);
        label = "random body";
        break;
      }
      default: { // ALIVE2 with forged name and extra lengths
        const name = enc.encode(`n${int(1000)}`);
        const body = alive2(name, 1 + int(65535));
        const at = int(2) === 0 ? 9 : 11 + name.length;
        const v = int(65536);
        body[at] = v >>> 8;
        body[at + 1] = v & 255;
        bytes = framed(body.slice(0, body.length - int(3)));
        label = "forged ALIVE2 lengths";
      }
    }
    // Never a KILL request: it would (rightly) stop the daemon.
    if (bytes.length >= 3 && bytes[2] === 107) bytes[2] = 108;
    yield { label, bytes, end: int(50) !== 0 };
  }
}

interface Outcome {
  reply: Uint8Array;
  /** Whether the daemon closed the connection (rather than us). */
  closedByDaemon: boolean;
}

/** Sends one case; resolves when the daemon has closed the connection. */
function send(port: number, c: Case): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const parts: Uint8Array[] = [];
    let size = 0;
    let done = false;
    const socket = connect({ host: "127.0.0.1", port });
    const finish = (closedByDaemon: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(guard);
      socket.destroy();
      const reply = new Uint8Array(size);
      let at = 0;
      for (const p of parts) {
        reply.set(p, at);
        at += p.length;
      }
      resolve({ reply, closedByDaemon });
    };
    // The daemon must close every connection within the packet timeout (plus
    // its sweep interval and scheduling slack).
    const guard = setTimeout(() => {
      done = true;
      socket.destroy();
      reject(
        new Error(
          `${c.label}: the daemon left the connection open for 10 s (${c.bytes.length} bytes sent)`,
        ),
      );
    }, 10_000);
    socket.on("connect", () => {
      if (c.bytes.length) socket.write(c.bytes);
      if (c.end) socket.end();
    });
    socket.on("data", (d: Uint8Array) => {
      parts.push(d);
      size += d.length;
      // A random frame that happens to be a valid registration: the daemon
      // keeps it; end it from our side.
      if (!c.end && (d[0] === 118 || d[0] === 121) && d[1] === 0) finish(false);
    });
    socket.on("error", () => finish(true));
    socket.on("close", () => finish(true));
  });
}

function checkReply(c: Case, o: Outcome, port: number): void {
  const r = o.reply;
  if (r.length === 0) return;
  const ok = r[0] === 118 || r[0] === 119 || r[0] === 121 ||
    (r.length >= 4 &&
      ((r[0] << 24) | (r[1] << 16) | (r[2] << 8) | r[3]) === port) ||
    (r.length === 2 && r[0] === 78 && r[1] === 79); // "NO"
  assert.ok(
    ok,
    `${c.label}: unexpected reply ${Array.from(r.subarray(0, 16))}`,
  );
}

test(
  `the registry survives ${
    heavy ? "≥ 100,000" : "a few thousand"
  } malformed frames, then answers and holds no stray name`,
  { timeout: 900_000 },
  async () => {
    const registry = await startRegistry({
      port: 0,
      packetTimeoutMs: PACKET_TIMEOUT_MS,
      log: () => {},
    });
    try {
      const survivor = await registerNode("survivor", 4369, {
        port: registry.port,
      });
      const cases = (function* () {
        yield* suiteCases();
        yield* randomCases(RANDOM);
      })();
      let sent = 0, replied = 0, timedOut = 0;
      const labels = new Map<string, number>();
      const started = Date.now();
      const worker = async () => {
        for (let next = cases.next(); !next.done; next = cases.next()) {
          const c = next.value;
          const o = await send(registry.port, c);
          sent++;
          labels.set(
            c.label.replace(/ \d.*$/, ""),
            (labels.get(c.label.replace(/ \d.*$/, "")) ?? 0) + 1,
          );
          if (o.reply.length) replied++;
          if (!c.end && o.closedByDaemon && o.reply.length === 0) timedOut++;
          checkReply(c, o, registry.port);
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      const secs = (Date.now() - started) / 1000;
      console.log(
        `registry fuzz: ${sent.toLocaleString("en")} frames in ${
          secs.toFixed(1)
        } s ` +
          `(${replied} answered, ${timedOut} closed unanswered without end of input); ` +
          [...labels].map(([l, n]) => `${l} ${n}`).join(", "),
      );
      if (heavy) assert.ok(sent >= 100_000, `sent ${sent}`);
      // Still answering, and only the name registered before the fuzz is there.
      assert.equal(
        (await lookupNode("survivor", { port: registry.port }))?.port,
        4369,
      );
      assert.deepEqual(registry.names().map((n) => n.name), ["survivor"]);
      await survivor.close();
      assert.deepEqual(await listNames({ port: registry.port }), []);
      assert.deepEqual(registry.names(), []);
      // And registrations still work.
      const after = await registerNode("after", 4370, { port: registry.port });
      assert.equal(
        (await lookupNode("after", { port: registry.port }))?.port,
        4370,
      );
      await after.close();
    } finally {
      await registry.close();
    }
  },
);
