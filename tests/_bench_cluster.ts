/**
 * The cluster a bench of remote calls runs on: a registry, a control node
 * in this process, two noderl peers (OS processes of this runtime, loading
 * the bench's peer module) and, when Elixir is installed, two Elixir nodes
 * running the bench's Elixir helper — each pair measured against the other
 * in the same run.
 *
 * @module
 */
import { type Node, startNode } from "../node/mod.ts";
import { type Peer, startPeer } from "../node/peer.ts";
import { type Registry, startRegistry } from "../node/registry.ts";
import {
  beamHelper,
  type BeamNode,
  elixirPath,
  startBeamNode,
} from "./_beam.ts";

/** What {@linkcode startBenchCluster} starts. */
export interface BenchClusterOptions {
  cookie: string;
  /** The control node's name. */
  ctl: string;
  /** The two noderl peers' names, and the module they load. */
  peers: readonly [string, string];
  modules: URL;
  /** The two Elixir nodes' names, the helper file (tests/beam/) and its start call. */
  elixir: { names: readonly [string, string]; helper: string; start: string };
}

/** A running bench cluster. */
export interface BenchCluster {
  /** Whether the Elixir nodes run (Elixir is installed). */
  haveElixir: boolean;
  /** `mod.fun(...args)` on `node`, from the control node, as a number. */
  call(
    node: string,
    mod: string,
    fun: string,
    args: unknown[],
    timeoutMs?: number,
  ): Promise<number>;
  /** Stops everything it started. */
  stop(): Promise<void>;
}

/** Starts the cluster; on a failure, stops what had started. */
export async function startBenchCluster(
  o: BenchClusterOptions,
): Promise<BenchCluster> {
  const registry: Registry = await startRegistry({ port: 0 });
  const peers: Peer[] = [];
  const beams: BeamNode[] = [];
  let ctl: Node | undefined;
  const stop = async () => {
    for (const b of beams) await b.stop();
    for (const p of peers) await p.stop().catch(() => {});
    await ctl?.stop();
    await registry.close();
  };
  try {
    ctl = await startNode({
      name: o.ctl,
      cookie: o.cookie,
      registryPort: registry.port,
      logLevel: "none",
    });
    for (const name of o.peers) {
      peers.push(
        await startPeer({
          name,
          modules: o.modules,
          registryPort: registry.port,
          cookie: o.cookie,
        }),
      );
    }
    const haveElixir = elixirPath !== undefined;
    if (haveElixir) {
      const code = `Code.require_file(${
        JSON.stringify(beamHelper(o.elixir.helper))
      })\n${o.elixir.start}`;
      for (const name of o.elixir.names) {
        beams.push(
          await startBeamNode({
            name,
            cookie: o.cookie,
            registryPort: registry.port,
            elixir: code,
          }),
        );
      }
    }
    const node = ctl;
    return {
      haveElixir,
      call: (n, mod, fun, args, timeoutMs = 600_000) =>
        node.call(n, mod, fun, args, timeoutMs) as Promise<number>,
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
