/**
 * What `global`, `pg` and the PubSub adapter need of a node beyond its
 * public methods: its log, whether it is hidden, and a way to make a system
 * process. The node hands these over when it starts (node.ts calls
 * `startGlobal`). Internal.
 *
 * @module
 */
import process from "node:process";
import { briefTerm } from "./_rate_log.ts";
import type { MessageHandler, Process } from "./process.ts";
import type { Node } from "./node.ts";

/** The node internals the cluster modules use. @internal */
export interface ClusterHooks {
  /** Whether the node was started hidden (it then takes no part in global). */
  hidden: boolean;
  /** The node's log (standard error by default). */
  log(message: string): void;
  /** Makes a registered handler process (no mailbox loop). */
  systemProcess(name: string, handler: MessageHandler): Process;
}

const hooks = new WeakMap<Node, ClusterHooks>();

/**
 * Logs what a peer's bad message made a process drop, at a bounded rate
 * (the node's log of peer-caused problems). @internal
 */
export function peerLine(node: Node, kind: string, message: string): void {
  node.peerLog.line(kind, message);
}

/** Records `node`'s hooks. @internal */
export function attachHooks(node: Node, h: ClusterHooks): void {
  hooks.set(node, h);
}

/** The hooks of `node` (a stand-in logging to stderr if none). @internal */
export function hooksOf(node: Node): ClusterHooks {
  const h = hooks.get(node);
  if (h !== undefined) return h;
  return {
    hidden: false,
    log: (m) => process.stderr.write(`[noderl ${node.name}] ${m}\n`),
    systemProcess: () => {
      throw new Error(`${node.name} has no cluster hooks`);
    },
  };
}

/**
 * The nodes `node` shares a visible connection with: none when it is
 * hidden (a hidden node's connections are all hidden, as on the BEAM).
 * @internal
 */
export function visibleNodes(node: Node): string[] {
  return hooksOf(node).hidden ? [] : node.nodes();
}

/**
 * Runs a handler process's messages one at a time, in arrival order, as a
 * BEAM process takes them: a message that arrives while one is being
 * handled (a handler that sends to itself, a DOWN for a dead pid that
 * `monitor` delivers at once) waits its turn instead of re-entering.
 * @internal
 */
export function serialHandler(
  handle: (message: unknown) => void,
  onError: (e: unknown, message: unknown) => void,
): (message: unknown) => void {
  const queue: unknown[] = [];
  let busy = false;
  return (message: unknown) => {
    if (busy) {
      queue.push(message);
      return;
    }
    busy = true;
    try {
      try {
        handle(message);
      } catch (e) {
        onError(e, message);
      }
      while (queue.length > 0) {
        const m = queue.shift();
        try {
          handle(m);
        } catch (e) {
          onError(e, m);
        }
      }
    } finally {
      busy = false;
    }
  };
}

/** A term for a log line, a few dozen characters at most. @internal */
export function brief(t: unknown): string {
  try {
    return briefTerm(t);
  } catch {
    return "(a term)";
  }
}
