/**
 * Listening with a clear error. Internal.
 *
 * @module
 */
import type { Server } from "node:net";

/**
 * Starts `server` listening on `address:port`; resolves with the port it
 * got (useful with port 0), or rejects with an error that names the
 * address (e.g. `cannot listen on 127.0.0.1:4040: address already in use`).
 */
export function listen(
  server: Server,
  port: number,
  address: string,
): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const onError = (e: Error) =>
      reject(new Error(`cannot listen on ${address}:${port}: ${e.message}`));
    server.once("error", onError);
    server.listen(port, address, () => {
      server.off("error", onError);
      resolve((server.address() as { port: number }).port);
    });
  });
}
