/**
 * The options of {@linkcode startNode}, the events a node emits, and what
 * spawn and monitor take: the types of the `Node` API, and the checks of
 * the numbers a node is given.
 *
 * @module
 */
import type { DebugCategory, LogLevel } from "./logger.ts";
import type { PortRange } from "./_hosts.ts";
import type { TlsOptions } from "./_tls.ts";
import type { Atom, Pid } from "./terms.ts";

/** A function a module exports: called with the decoded arguments. */
// deno-lint-ignore no-explicit-any
export type ModuleFunction = (...args: any[]) => unknown;

/** Options for {@linkcode startNode}. */
export interface NodeOptions {
  /** A full node name, used as given: `"alex@localhost"`. */
  name?: string;
  /** A short name: `"alex"` becomes `alex@<this host's short name>`. */
  sname?: string;
  /**
   * The magic cookie. When absent: `NODERL_COOKIE`, else the contents of
   * `~/.erlang.cookie` (created with a random value, mode 0600, if missing,
   * as `erl` does).
   */
  cookie?: string;
  /**
   * The registry's port.
   * @default {ERL_EPMD_PORT, else 4369}
   */
  registryPort?: number;
  /**
   * Where our registry runs.
   * @default {"127.0.0.1"}
   */
  registryHost?: string;
  /**
   * Address to listen on for distribution connections: `"0.0.0.0"` (or
   * `"::"`) for every interface, as the BEAM listens.
   * @default {where the host of the node's name resolves: 127.0.0.1 for
   * `localhost`, the host's address for a long name like `kate@10.0.0.5`}
   */
  address?: string;
  /**
   * Port to listen on (0: any free port).
   * @default {0}
   */
  port?: number;
  /**
   * Listen on the first free port from `min` to `max`, as the BEAM's
   * `inet_dist_listen_min`/`inet_dist_listen_max`: the ports to open in a
   * firewall. Not with `port`.
   */
  portRange?: PortRange;
  /**
   * TLS distribution, as the BEAM's `-proto_dist inet_tls`: certificate,
   * key and CA (PEM text or file paths). Every node of the cluster must use
   * it; see the README's "Running across hosts".
   */
  tls?: TlsOptions;
  /**
   * Net tick time in seconds, as Erlang's `net_ticktime`: a peer that is
   * silent this long is declared down.
   * @default {60}
   */
  tickTime?: number;
  /**
   * A hidden node is not listed by its peers' `nodes()`.
   * @default {false}
   */
  hidden?: boolean;
  /**
   * Time allowed for lookup, connect and handshake, in ms.
   * @default {7000}
   */
  connectTimeoutMs?: number;
  /**
   * Largest distribution packet accepted, in bytes. Peers that take
   * fragments (noderl, OTP 22+) never send packets larger than 64 KiB and a
   * bit; this bounds what other peers may send in one piece.
   * @default {134217728} (128 MiB)
   */
  maxPacketSize?: number;
  /**
   * Largest message sent or received (in fragments), in bytes: a bigger one
   * is refused with a RangeError at `send`, or closes a connection that
   * delivers it.
   * @default {1073741824} (1 GiB)
   */
  maxMessageSize?: number;
  /**
   * Output queued on a connection (encoded, not yet taken by the operating
   * system), in bytes, past which the connection is busy: a process that
   * sends on it is suspended — its next `receive`, `sleep` or call waits —
   * until the output drains, as the BEAM's `dist_buf_busy_limit` (`+zdbbl`).
   * @default {1048576} (1 MiB)
   */
  distBufBusyLimit?: number;
  /**
   * Output queued on a connection past which it is closed: a peer that
   * does not read while senders that cannot be suspended (code that never
   * awaits) go on sending. Suspended processes never reach it.
   * @default {1073741824} (1 GiB)
   */
  maxOutputBuffer?: number;
  /** Where this node's group leader writes. When absent: standard output. */
  stdout?: (text: string) => void;
  /**
   * Where the node's logger writes (problems, crash reports, debug traces).
   * When absent: standard error, prefixed with the node's name and the level.
   */
  log?: (message: string, level: LogLevel) => void;
  /**
   * The logger's level: messages below it are dropped; `"none"` silences
   * the node (crash reports too), as tests may want.
   * @default {"info"}
   */
  logLevel?: LogLevel | "none";
  /**
   * Debug traces (connections, handshakes, the registry): `true` for all,
   * or a list of categories. When absent: from `NODERL_DEBUG` (`1`, `all`,
   * or `connection,handshake,…`), else on when `NODE_DEBUG` names `noderl`.
   */
  debug?: boolean | string | readonly DebugCategory[];
}

/** Options for spawning a process. */
export interface SpawnOptions {
  /**
   * Link the new process to the caller.
   * @default {false}
   */
  link?: boolean;
  /**
   * Monitor the new process from the caller.
   * @default {false}
   */
  monitor?: boolean;
}

/**
 * Checks the numeric options of {@linkcode startNode}.
 *
 * @internal
 */
export function checkOptions(o: NodeOptions): void {
  const check = (
    key: keyof NodeOptions,
    min: number,
    max: number,
    what: string,
  ) => {
    const v = o[key];
    if (v === undefined) return;
    if (typeof v !== "number" || !(v >= min && v <= max)) {
      throw new RangeError(
        `startNode: ${key} must be ${what} from ${min} to ${max}, got ${
          String(v)
        }`,
      );
    }
  };
  check("port", 0, 65535, "a port number");
  check("registryPort", 1, 65535, "a port number");
  check("tickTime", 0.05, 86400, "a number of seconds");
  check("connectTimeoutMs", 1, 0x7fffffff, "a number of milliseconds");
  check("maxPacketSize", 1024, 2 ** 32 - 1, "a number of bytes");
  check("maxMessageSize", 1024, 2 ** 32 - 1, "a number of bytes");
  check("distBufBusyLimit", 1024, 2 ** 32 - 1, "a number of bytes");
  check("maxOutputBuffer", 1024, 2 ** 48, "a number of bytes");
  const r = o.portRange;
  if (r !== undefined) {
    if (
      !Array.isArray(r) || r.length !== 2 ||
      !r.every((p) => Number.isInteger(p) && p >= 1 && p <= 65535) ||
      r[0] > r[1]
    ) {
      throw new RangeError(
        `startNode: portRange must be [min, max], ports from 1 to 65535 with min <= max, got ${
          JSON.stringify(r)
        }`,
      );
    }
    if (o.port !== undefined) {
      throw new TypeError("startNode: give port or portRange, not both");
    }
  }
}

/**
 * Events a node emits, with their listeners' arguments:
 * `node.on("nodeup", (name: string) => …)`.
 */
export interface NodeEvents {
  /** A connection to node `node` is up. */
  nodeup: [node: string];
  /** The connection to node `node` went down, for `reason`. */
  nodedown: [node: string, reason: string];
}

/** What a monitor can watch: a pid, a local name, or `[name, node]`. */
export type MonitorTarget =
  | Pid
  | string
  | Atom
  | readonly [string | Atom, string | Atom];
