/**
 * The EPMD protocol's request and reply codes, shared by the registry
 * daemon and its client, and the TCP port check both use. Internal.
 *
 * @module
 */

/** Registers a node (OTP 23+ answers ALIVE2_X_RESP, older ALIVE2_RESP). */
export const ALIVE2_REQ = 120;
/** ALIVE2 reply with a 32-bit creation. */
export const ALIVE2_X_RESP = 118;
/** ALIVE2 reply with a 16-bit creation. */
export const ALIVE2_RESP = 121;
/** Looks a node up by name. */
export const PORT_PLEASE2_REQ = 122;
/** PORT_PLEASE2 reply. */
export const PORT2_RESP = 119;
/** Lists the registered names. */
export const NAMES_REQ = 110;
/** Debug dump of every name (loopback only). */
export const DUMP_REQ = 100;
/** Stops the daemon (loopback only). */
export const KILL_REQ = 107;
/** Unregisters a name (relaxed command check only). */
export const STOP_REQ = 115;

/** Whether `n` is a TCP port number from `min` to 65535. */
export function isPort(n: number, min: 0 | 1): boolean {
  return Number.isInteger(n) && n >= min && n <= 65535;
}
