/**
 * Named nodes, the registry, the Erlang distribution protocol, processes
 * and the External Term Format codec.
 *
 * @module
 */
export * from "./terms.ts";
export * from "./term_errors.ts";
export { decode, type DecodeOptions } from "./decode.ts";
export { encode, type EncodeOptions } from "./encode.ts";
export {
  type Destination,
  type ModuleFunction,
  type MonitorTarget,
  Node,
  type NodeEvents,
  type NodeOptions,
  type PortRange,
  type SpawnOptions,
  startNode,
  type TlsOptions,
} from "./node.ts";
export { tlsOptionsFromOptfile } from "./_tls_optfile.ts";
export { withArity } from "./arity.ts";
export {
  bindProcess,
  cancelTimer,
  currentNode,
  defaultNode,
  demonitor,
  exit,
  flush,
  genCall,
  groupLeader,
  isAlive,
  link,
  makeRef,
  monitor,
  puts,
  readTimer,
  receive,
  register,
  registered,
  reply,
  self,
  send,
  sendAfter,
  sleep,
  spawn,
  spawnLink,
  spawnMonitor,
  trapExit,
  unlink,
  unregister,
  whereis,
} from "./process_api.ts";
export {
  describeReason,
  ExitError,
  HandshakeError,
  NameTakenError,
  NoConnectionError,
  RemoteError,
  TimeoutError,
} from "./errors.ts";
export { type FormatOptions, formatTerm } from "./format.ts";
export { type CompareOptions, compareTerms } from "./term_order.ts";
export { chardataToString, ioLibFormat } from "./io_format.ts";
export type { Process } from "./process.ts";
export {
  Cluster,
  Peer,
  type PeerExit,
  type PeerOptions,
  type PeerScope,
  peerScope,
  runningPeers,
  startPeer,
  startPeers,
  type StartPeersOptions,
  stopAll,
} from "./peer.ts";
export {
  type RegisteredNode,
  type Registry,
  type RegistryOptions,
  startRegistry,
} from "./registry.ts";
export {
  defaultRegistryPort,
  listNames,
  lookupNode,
  type NodeAddress,
  registerNode,
  type Registration,
  type RegistryClientOptions,
  RegistryError,
} from "./registry_client.ts";
export { setBusyWait } from "./_busy_wait.ts";
export {
  ABORTED,
  delLock,
  globalNames,
  type GlobalResolver,
  globalSyncedNodes,
  type LockId,
  type LockOptions,
  registerGlobal,
  type RegisterGlobalOptions,
  reRegisterGlobal,
  sendGlobal,
  setLock,
  syncGlobal,
  trans,
  unregisterGlobal,
  whereisGlobal,
} from "./global.ts";
export {
  type PgGroupMonitor,
  PgScope,
  pgScope,
  type PgScopeMonitor,
  startPg,
} from "./pg.ts";
export {
  DEBUG_CATEGORIES,
  type DebugCategory,
  Logger,
  type LoggerOptions,
  type LogLevel,
  type LogSink,
} from "./logger.ts";
export {
  type ConnectEvent,
  diagnosticsChannels,
  type DisconnectEvent,
  type HandshakeFailureEvent,
  type ProcessCrashEvent,
} from "./diagnostics.ts";
