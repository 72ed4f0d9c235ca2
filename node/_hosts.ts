/**
 * Nodes across hosts: the address a node listens on when none is given
 * (where its name's host resolves), a listening port from a range (as the
 * BEAM's `inet_dist_listen_min`/`max`), whether an address is this
 * machine's (then the local registry knows the node), and errors that name
 * the real cause when a host's registry or node cannot be reached.
 * Internal.
 *
 * @module
 */
import type { Server } from "node:net";
import { isIP } from "node:net";
import { networkInterfaces } from "node:os";
import { resolveHost } from "./_names.ts";

/** Whether `address` is a loopback address (127.0.0.0/8, ::1, or mapped). */
export function isLoopback(address: string): boolean {
  const a = address.toLowerCase().replace(/^::ffff:/, "");
  return a.startsWith("127.") || a === "::1" ||
    a === "0:0:0:0:0:0:0:1";
}

/** The addresses of this machine's interfaces (in its network namespace). */
function ownAddresses(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) out.add(i.address.toLowerCase());
  }
  return out;
}

/**
 * Whether `address` belongs to this machine: loopback, or an address of
 * one of its interfaces. A node there is registered with this machine's
 * registry.
 */
export function isOwnAddress(address: string): boolean {
  if (isLoopback(address)) return true;
  const a = address.toLowerCase().replace(/^::ffff:/, "");
  return ownAddresses().has(a);
}

/** `address:port`, with IPv6 addresses in brackets. */
export function hostPort(address: string, port: number): string {
  return `${isIP(address) === 6 ? `[${address}]` : address}:${port}`;
}

/**
 * The address a node listens on when `address` is not given: where the
 * host of its name resolves, which is where peers will dial it (`localhost`
 * and loopback names: loopback only). Throws when the host cannot be
 * resolved.
 */
export async function listenAddressFor(name: string): Promise<string> {
  const host = name.slice(name.indexOf("@") + 1);
  try {
    return await resolveHost(host);
  } catch (e) {
    throw new Error(
      `cannot tell where ${name} should listen: ${
        (e as Error).message
      } — peers could not reach it either; or give address (e.g. "0.0.0.0") to listen anyway`,
    );
  }
}

/** An error with a system code (`EADDRINUSE`, …). */
type ErrnoError = Error & { code?: string };

/** A range of ports, as `[min, max]`. */
export type PortRange = readonly [number, number];

/** Tries to listen on one port; resolves with the port, or the error. */
function tryListen(
  server: Server,
  port: number,
  address: string,
): Promise<number | ErrnoError> {
  return new Promise((resolve) => {
    const onError = (e: Error) => resolve(e as ErrnoError);
    server.once("error", onError);
    server.listen(port, address, () => {
      server.off("error", onError);
      resolve((server.address() as { port: number }).port);
    });
  });
}

/**
 * Starts `server` listening for node `name` on `address`, at `port`, or on
 * the first free port of `range` (tried in order, as the BEAM tries
 * `inet_dist_listen_min` to `max`). Rejects with an error that says what
 * to fix: an address that is not this machine's, a port in use, a range
 * with no free port.
 */
export async function listenForNode(
  server: Server,
  name: string,
  address: string,
  port: number,
  range: PortRange | undefined,
  addressGiven: boolean,
): Promise<number> {
  const [min, max] = range ?? [port, port];
  let last: ErrnoError | undefined;
  // Checked first: runtimes report it differently (EADDRNOTAVAIL, EINVAL).
  const notOurs = isIP(address) !== 0 && address !== "0.0.0.0" &&
    address !== "::" && !isOwnAddress(address);
  for (let p = min; p <= max && !notOurs; p++) {
    const r = await tryListen(server, p, address);
    if (typeof r === "number") return r;
    last = r;
    if (r.code !== "EADDRINUSE") break;
  }
  const where = hostPort(address, min);
  if (notOurs || last?.code === "EADDRNOTAVAIL") {
    const mine = [...ownAddresses()].filter((a) => !a.startsWith("fe80"))
      .join(", ");
    throw new Error(
      addressGiven
        ? `cannot listen on ${address}: it is not an address of this machine (its addresses: ${mine}); give one of those, or "0.0.0.0"/"::" for all`
        : `cannot listen on ${address}, where the host of ${name} resolves: it is not an address of this machine (its addresses: ${mine}). Name the node after a host that resolves to this machine, or give address (e.g. "0.0.0.0") if peers reach it through another address (NAT)`,
    );
  }
  if (last?.code === "EADDRINUSE" && range !== undefined) {
    throw new Error(
      `cannot listen on ${address}: every port from ${min} to ${max} (portRange) is in use; widen the range or stop what uses it`,
    );
  }
  throw new Error(
    `cannot listen on ${where}: ${last?.message ?? "unknown error"}`,
  );
}

/**
 * Why looking `node` up in the registry at `registryHost:registryPort`
 * failed, with what to do: on another host, its registry must listen
 * beyond loopback and its port be open.
 */
export function lookupFailure(
  node: string,
  registryHost: string,
  registryPort: number,
  own: boolean,
  e: unknown,
): string {
  const message = (e as Error)?.message ?? String(e);
  if (own) return message;
  const code = (e as { code?: string })?.code;
  const where = hostPort(registryHost, registryPort);
  if (code === "ECONNREFUSED") {
    return `no registry answers at ${where}, the host of ${node} (connection refused): on that host run the registry on an address other hosts reach — \`noderl-registry --address 0.0.0.0\` (or \`::\` for IPv6 too; epmd does so by default) — and let TCP port ${registryPort} through its firewall; a registry on 127.0.0.1 serves its own host only`;
  }
  if (
    code === "ETIMEDOUT" || code === "EHOSTUNREACH" ||
    code === "ENETUNREACH" || code === "EHOSTDOWN"
  ) {
    return `cannot reach the registry at ${where}, the host of ${node} (${code}): check the network between the hosts and that firewalls let TCP port ${registryPort} (the registry) and the nodes' ports (portRange) through`;
  }
  return message;
}
