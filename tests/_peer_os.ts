/**
 * What the OS says about processes and ports, for the peer cleanup tests.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { connect } from "node:net";
import process from "node:process";

/**
 * Whether process `pid` still runs: signal 0 reaches it and, where /proc
 * tells, it is not a zombie (an orphan nobody reaped is gone all the same).
 */
export function processRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as { code?: string }).code === "ESRCH") return false;
    throw e;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return true; // no /proc: signal 0 is all we know
  }
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
export function portListening(port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: "127.0.0.1" });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", (e: Error & { code?: string }) => {
      s.destroy();
      if (e.code === "ECONNREFUSED") resolve(false);
      else reject(e);
    });
  });
}

/** What a leaky fixture test started: its child pids and listening ports. */
export interface Leak {
  label: string;
  pids: number[];
  ports: number[];
}

/** The pids still running and the ports still listening of `leaks`. */
export async function leftOver(
  leaks: Leak[],
): Promise<{ pids: number[]; ports: number[] }> {
  const pids = leaks.flatMap((l) => l.pids).filter(processRunning);
  const ports: number[] = [];
  for (const p of leaks.flatMap((l) => l.ports)) {
    if (await portListening(p)) ports.push(p);
  }
  return { pids, ports };
}
