/**
 * What the command-line scripts that start a node share: the node flags and
 * starting the node from them with clear errors. Internal.
 *
 * @module
 */
import { isPort } from "./_epmd.ts";
import type { PortRange } from "./_hosts.ts";
import type { TlsOptions } from "./_tls.ts";
import { tlsOptionsFromOptfile } from "./_tls_optfile.ts";
import { VERSION } from "./_version.ts";
import { describeReason, ExitError, NoConnectionError } from "./errors.ts";
import { type Node, startNode } from "./node.ts";

/**
 * `parseArgs` options for `--sname | --name`, `--cookie`, `--registry-port`,
 * `--address`, `--port-range`, the TLS flags, `--help` and `--version`.
 */
export const NODE_FLAGS = {
  sname: { type: "string" },
  name: { type: "string" },
  cookie: { type: "string" },
  "registry-port": { type: "string" },
  address: { type: "string" },
  "port-range": { type: "string" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  "tls-ca": { type: "string" },
  "tls-optfile": { type: "string" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean" },
} as const;

/** The node flags' lines of a usage text. */
export const NODE_FLAGS_USAGE =
  `  --sname NAME | --name NAME@HOST   the node's name (a long name's HOST is
                      a host name or IP address other hosts reach it by)
  --cookie C          the cookie (default: NODERL_COOKIE, else ~/.erlang.cookie)
  --registry-port P   the registry's port (default: ERL_EPMD_PORT, else 4369)
  --address A         listen there (default: where the name's host resolves;
                      0.0.0.0 or :: for every interface)
  --port-range MIN-MAX  listen on a free port in this range (firewalls)
  --tls-cert F --tls-key F --tls-ca F   TLS distribution: this node's
                      certificate and key, the CA that signs the cluster's
  --tls-optfile F     TLS from an erl -ssl_dist_optfile file instead`;
/** What `--version` prints for the bin `bin`: `noderl-chat 0.1.0`. */
export function versionText(bin: string): string {
  return `${bin} ${VERSION} (noderl)`;
}

/**
 * Why something sent to or called on another node failed, in words: a
 * refused connection or a wrong cookie says so (never the cookie itself).
 */
export function explainFailure(e: unknown): string {
  if (e instanceof NoConnectionError) return e.message;
  if (e instanceof ExitError) return describeReason(e.reason);
  return e instanceof Error ? e.message : String(e);
}

/** The parsed node flags. */
export interface NodeFlagValues {
  sname?: string;
  name?: string;
  cookie?: string;
  "registry-port"?: string;
  address?: string;
  "port-range"?: string;
  "tls-cert"?: string;
  "tls-key"?: string;
  "tls-ca"?: string;
  "tls-optfile"?: string;
}

/** `--port-range MIN-MAX` (or one port), or an error message. */
function parsePortRange(text: string): PortRange | string {
  const m = /^(\d+)(?:-(\d+))?$/.exec(text.trim());
  const min = m ? Number(m[1]) : NaN, max = m?.[2] ? Number(m[2]) : min;
  if (!m || !isPort(min, 1) || !isPort(max, 1) || min > max) {
    return `--port-range must be MIN-MAX (ports from 1 to 65535, MIN <= MAX), got ${text}`;
  }
  return [min, max];
}

/** The TLS flags as options, undefined without them, or an error message. */
function tlsFromFlags(v: NodeFlagValues): TlsOptions | undefined | string {
  const files = [v["tls-cert"], v["tls-key"], v["tls-ca"]];
  if (v["tls-optfile"] !== undefined) {
    if (files.some((f) => f !== undefined)) {
      return "give --tls-optfile or --tls-cert/--tls-key/--tls-ca, not both";
    }
    try {
      return tlsOptionsFromOptfile(v["tls-optfile"]);
    } catch (e) {
      return (e as Error).message;
    }
  }
  if (files.every((f) => f === undefined)) return undefined;
  if (v["tls-cert"] === undefined || v["tls-key"] === undefined) {
    return "TLS needs --tls-cert and --tls-key (and --tls-ca)";
  }
  return { cert: v["tls-cert"], key: v["tls-key"], ca: v["tls-ca"] };
}

/**
 * Starts the node the flags describe. On bad flags or a failed start it
 * prints why (with `usage` for bad flags) and resolves with the exit code
 * to use (2 for bad flags, 1 for a failed start) instead of a node.
 */
export async function startNodeFromFlags(
  values: NodeFlagValues,
  usage: string,
): Promise<Node | number> {
  if (!values.sname === !values.name) {
    console.error(`give exactly one of --sname or --name\n${usage}`);
    return 2;
  }
  let registryPort: number | undefined;
  if (values["registry-port"] !== undefined) {
    registryPort = Number(values["registry-port"]);
    if (!isPort(registryPort, 1)) {
      console.error(
        `--registry-port must be a TCP port number, got ${
          values["registry-port"]
        }\n${usage}`,
      );
      return 2;
    }
  }
  let portRange: PortRange | undefined;
  if (values["port-range"] !== undefined) {
    const r = parsePortRange(values["port-range"]);
    if (typeof r === "string") {
      console.error(`${r}\n${usage}`);
      return 2;
    }
    portRange = r;
  }
  const tls = tlsFromFlags(values);
  if (typeof tls === "string") {
    console.error(`${tls}\n${usage}`);
    return 2;
  }
  try {
    return await startNode({
      sname: values.sname,
      name: values.name,
      cookie: values.cookie,
      registryPort,
      address: values.address,
      portRange,
      tls,
    });
  } catch (e) {
    console.error(`cannot start the node: ${(e as Error).message}`);
    return 1;
  }
}
