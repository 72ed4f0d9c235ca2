/**
 * Run by node/logger_test.ts as a child process: a registry and two nodes
 * that connect and disconnect, and a third with the wrong cookie, with the
 * default log sink (standard error), so the test reads the debug traces
 * NODERL_DEBUG or NODE_DEBUG turn on.
 *
 * @module
 */
import { startRegistry } from "../node/registry.ts";
import { startNode } from "../node/node.ts";

const registry = await startRegistry({ port: 0 });
const opts = { cookie: "dbg", registryPort: registry.port };
const a = await startNode({ name: "dbga@localhost", ...opts });
const b = await startNode({ name: "dbgb@localhost", ...opts });
const c = await startNode({
  name: "dbgc@localhost",
  cookie: "zebra-cookie",
  registryPort: registry.port,
});
await a.connect("dbgb@localhost");
await a.disconnect("dbgb@localhost");
await c.connect("dbga@localhost");
await new Promise((r) => setTimeout(r, 50));
await a.stop();
await b.stop();
await c.stop();
await registry.close();
