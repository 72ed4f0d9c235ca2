/**
 * Server references — a pid, a local name, `[name, node]`, `{global, name}`
 * — and the extension point through which `{global, name}` is resolved
 * and registered: noderl's `global` by default, else what
 * {@linkcode setGlobalNameRegistry} installs. Internal, but for that
 * function and the default (re-exported by `gen/mod.ts`).
 *
 * @module
 */
import { registerGlobal, whereisGlobal } from "../node/global.ts";
import type { Node } from "../node/node.ts";
import { Atom, Pid, Tuple, tuple } from "../node/terms.ts";

/**
 * A GenServer (or Agent): a pid, a name registered on the calling node, a
 * name on a node as `[name, node]` (Elixir's `{name, node}`), or a global
 * name as `tuple(atom("global"), name)` (Elixir's `{:global, name}`).
 */
export type ServerRef =
  | Pid
  | string
  | Atom
  | readonly [string | Atom, string | Atom]
  | Tuple;

/**
 * Where `{global, name}` names live: noderl's `global` module installs
 * one with {@linkcode setGlobalNameRegistry}; another cluster-wide
 * registry can too.
 */
export interface GlobalNameRegistry {
  /** The pid registered under `name` (any term) cluster-wide, if any. */
  whereis(
    node: Node,
    name: unknown,
  ): Pid | undefined | Promise<Pid | undefined>;
  /** Registers `pid` under `name` from `node`; false when the name is taken. */
  register(node: Node, name: unknown, pid: Pid): boolean | Promise<boolean>;
}

/** noderl's `global` (node/global.ts), the registry used unless another is installed. */
export const noderlGlobalNames: GlobalNameRegistry = {
  whereis: (node, name) => whereisGlobal(name, node),
  register: (node, name, pid) => registerGlobal(name, pid, { node }),
};

let globalNames: GlobalNameRegistry | undefined = noderlGlobalNames;

/**
 * Installs the registry that `{global, name}` server names use in
 * `GenServer` and `Agent` — by default {@linkcode noderlGlobalNames},
 * noderl's `global`, which BEAM nodes of the cluster share; `undefined`
 * removes it.
 */
export function setGlobalNameRegistry(
  registry: GlobalNameRegistry | undefined,
): void {
  globalNames = registry;
}

const GLOBAL = Atom.of("global");

/** Wraps the name of `{global, name}` (any term), if `ref` is one. @internal */
export function globalName(ref: unknown): { name: unknown } | undefined {
  if (ref instanceof Tuple && ref.length === 2 && ref[0] === GLOBAL) {
    return { name: ref[1] };
  }
  return undefined;
}

/** The installed global registry, or a clear error. @internal */
export function globalRegistry(what: string): GlobalNameRegistry {
  if (globalNames === undefined) {
    throw new TypeError(
      `${what}: {global, name} needs a global name registry, and none is installed (setGlobalNameRegistry(noderlGlobalNames) installs noderl's global)`,
    );
  }
  return globalNames;
}

/** Whether `ref` has the shape of a {@linkcode ServerRef}. @internal */
export function isServerRef(ref: unknown): ref is ServerRef {
  return ref instanceof Pid || typeof ref === "string" ||
    ref instanceof Atom ||
    (Array.isArray(ref) && !(ref instanceof Tuple) && ref.length === 2) ||
    globalName(ref) !== undefined;
}

/** The term Elixir's exits show for a server reference. @internal */
export function serverTerm(ref: ServerRef): unknown {
  if (typeof ref === "string") return Atom.of(ref);
  if (Array.isArray(ref) && !(ref instanceof Tuple)) {
    const [n, node] = ref as readonly [unknown, unknown];
    return tuple(
      n instanceof Atom ? n : Atom.of(String(n)),
      node instanceof Atom ? node : Atom.of(String(node)),
    );
  }
  return ref;
}

/**
 * Where to send to `ref`: a pid, a local name, or `[name, node]`;
 * `{global, name}` is looked up (undefined when not registered).
 * @internal
 */
export function resolveServer(
  node: Node,
  ref: ServerRef,
  what: string,
):
  | Pid
  | string
  | Atom
  | readonly [string | Atom, string | Atom]
  | undefined
  | Promise<Pid | undefined> {
  const g = globalName(ref);
  if (g !== undefined) return globalRegistry(what).whereis(node, g.name);
  if (!isServerRef(ref)) {
    throw new TypeError(
      `${what}: a server is a Pid, a registered name, [name, node] or {global, name}; got ${
        String(ref)
      }`,
    );
  }
  return ref as Pid | string | Atom | readonly [string | Atom, string | Atom];
}
