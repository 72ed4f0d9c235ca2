/**
 * The atoms the node, its protocols and the task modules match on, made
 * once, and the one tuple-shape test they share. Internal.
 *
 * @module
 */
import { Atom, Tuple } from "./terms.ts";

/** Atoms used across noderl's own code. @internal */
export const A = {
  DOWN: Atom.of("DOWN"),
  EXIT: Atom.of("EXIT"),
  RuntimeError: Atom.of("Elixir.RuntimeError"),
  TaskSupervised: Atom.of("Elixir.Task.Supervised"),
  __exception__: Atom.of("__exception__"),
  __struct__: Atom.of("__struct__"),
  active: Atom.of("active"),
  alias: Atom.of("alias"),
  apply: Atom.of("apply"),
  badfun: Atom.of("badfun"),
  badrpc: Atom.of("badrpc"),
  brutal_kill: Atom.of("brutal_kill"),
  call: Atom.of("call"),
  calling_self: Atom.of("calling_self"),
  cast: Atom.of("cast"),
  count_children: Atom.of("count_children"),
  delete_child: Atom.of("delete_child"),
  erlang: Atom.of("erlang"),
  erpc: Atom.of("erpc"),
  empty: Atom.of(""),
  error: Atom.of("error"),
  exception: Atom.of("exception"),
  exit: Atom.of("exit"),
  features_reply: Atom.of("features_reply"),
  features_request: Atom.of("features_request"),
  file: Atom.of("file"),
  format: Atom.of("format"),
  gen_call: Atom.of("$gen_call"),
  gen_cast: Atom.of("$gen_cast"),
  infinity: Atom.of("infinity"),
  io_lib: Atom.of("io_lib"),
  io_reply: Atom.of("io_reply"),
  io_request: Atom.of("io_request"),
  is_auth: Atom.of("is_auth"),
  js: Atom.of("js"),
  kill: Atom.of("kill"),
  killed: Atom.of("killed"),
  latin1: Atom.of("latin1"),
  line: Atom.of("line"),
  link: Atom.of("link"),
  max_children: Atom.of("max_children"),
  message: Atom.of("message"),
  monitor: Atom.of("monitor"),
  nodedown: Atom.of("nodedown"),
  nodeup: Atom.of("nodeup"),
  nomonitor: Atom.of("nomonitor"),
  noconnection: Atom.of("noconnection"),
  normal: Atom.of("normal"),
  noproc: Atom.of("noproc"),
  not_found: Atom.of("not_found"),
  not_started: Atom.of("noderl_task_not_started"),
  ok: Atom.of("ok"),
  permanent: Atom.of("permanent"),
  process: Atom.of("process"),
  put_chars: Atom.of("put_chars"),
  request: Atom.of("request"),
  requests: Atom.of("requests"),
  restart_child: Atom.of("restart_child"),
  restarting: Atom.of("restarting"),
  return: Atom.of("return"),
  shutdown: Atom.of("shutdown"),
  specs: Atom.of("specs"),
  start_child: Atom.of("start_child"),
  start_task: Atom.of("start_task"),
  supervisor: Atom.of("supervisor"),
  supervisors: Atom.of("supervisors"),
  system: Atom.of("system"),
  temporary: Atom.of("temporary"),
  terminate: Atom.of("terminate"),
  terminate_child: Atom.of("terminate_child"),
  throw: Atom.of("throw"),
  timeout: Atom.of("timeout"),
  transient: Atom.of("transient"),
  undef: Atom.of("undef"),
  undefined: Atom.of("undefined"),
  unicode: Atom.of("unicode"),
  which_children: Atom.of("which_children"),
  worker: Atom.of("worker"),
  workers: Atom.of("workers"),
  yes: Atom.of("yes"),
} as const;

/**
 * Whether `m` is a tuple whose first element is `tag` (and, when `size` is
 * given, of that many elements). @internal
 */
export function isTuple(m: unknown, tag: unknown, size?: number): m is Tuple {
  return m instanceof Tuple && m[0] === tag &&
    (size === undefined || m.length === size);
}
