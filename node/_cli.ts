/**
 * What the command-line scripts that start a node share: the node flags and
 * starting the node from them with clear errors. Internal.
 *
 * @module
 */
import { isPort } from "./_epmd.ts";
import { type Node, startNode } from "./node.ts";

/** `parseArgs` options for `--sname | --name`, `--cookie`, `--registry-port`, `--help`. */
export const NODE_FLAGS = {
  sname: { type: "string" },
  name: { type: "string" },
  cookie: { type: "string" },
  "registry-port": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** The parsed node flags. */
export interface NodeFlagValues {
  sname?: string;
  name?: string;
  cookie?: string;
  "registry-port"?: string;
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
  try {
    return await startNode({
      sname: values.sname,
      name: values.name,
      cookie: values.cookie,
      registryPort,
    });
  } catch (e) {
    console.error(`cannot start the node: ${(e as Error).message}`);
    return 1;
  }
}
