/**
 * The atoms of OTP's `global` protocol (kernel `global.erl`, protocol
 * version 8 in OTP 25 and OTP 27). Internal.
 *
 * @module
 */
import { Atom } from "./terms.ts";

/** @internal */
export const G = {
  global: Atom.of("global"),
  global_name_server: Atom.of("global_name_server"),
  init_connect: Atom.of("init_connect"),
  init_connect_ack: Atom.of("init_connect_ack"),
  locker: Atom.of("locker"),
  no_longer_a_pid: Atom.of("no_longer_a_pid"),
  lock_set: Atom.of("lock_set"),
  lock_is_set: Atom.of("lock_is_set"),
  exchange: Atom.of("exchange"),
  resolved: Atom.of("resolved"),
  unused: Atom.of("unused"),
  new_nodes: Atom.of("new_nodes"),
  in_sync: Atom.of("in_sync"),
  async_del_name: Atom.of("async_del_name"),
  async_del_lock: Atom.of("async_del_lock"),
  set_lock: Atom.of("set_lock"),
  del_lock: Atom.of("del_lock"),
  register: Atom.of("register"),
  register_ext: Atom.of("register_ext"),
  unregister: Atom.of("unregister"),
  registrar: Atom.of("registrar"),
  get_known: Atom.of("get_known"),
  get_synced: Atom.of("get_synced"),
  sync: Atom.of("sync"),
  get_protocol_version: Atom.of("get_protocol_version"),
  get_names_ext: Atom.of("get_names_ext"),
  whereis: Atom.of("whereis"),
  lost_connection: Atom.of("lost_connection"),
  remove_connection: Atom.of("remove_connection"),
  cancel_connect: Atom.of("cancel_connect"),
  insert: Atom.of("insert"),
  delete: Atom.of("delete"),
  vsn: Atom.of("vsn"),
  lock: Atom.of("lock"),
  none: Atom.of("none"),
  random_exit_name: Atom.of("random_exit_name"),
  random_notify_name: Atom.of("random_notify_name"),
  notify_all_name: Atom.of("notify_all_name"),
  global_name_conflict: Atom.of("global_name_conflict"),
  badarg: Atom.of("badarg"),
  nonode: Atom.of("nonode@nohost"),
} as const;

/** The protocol version noderl speaks (OTP 25 and 27 both speak 8). */
export const GLOBAL_VSN = 8;
/** From this version, `init_connect_ack` and `cancel_connect` are used. */
export const VERIFY_CONNECT_VSN = 8;
/** From this version, "prevent overlapping partitions" messages are sent. */
export const POP_VSN = 7;
/** From this version, known-node lists carry protocol versions. */
export const PGPV_VSN = 7;
