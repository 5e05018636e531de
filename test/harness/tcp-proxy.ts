/**
 * A TCP proxy in front of one address, for cutting a single process off
 * from the apiserver while the shared control plane keeps serving the rest
 * of the test run: `hang` swallows every byte both ways and holds new
 * connections open (an apiserver that stopped answering: etcd down behind
 * it), `restore` resets what it held so clients reconnect, and forwards again.
 */
import { connect, createServer, type Server, type Socket } from "node:net";

export interface TcpProxy {
  port: number;
  hang(): void;
  restore(): void;
  stop(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  let hanging = false;
  const pairs = new Set<{ client: Socket; upstream?: Socket }>();
  const server: Server = createServer((client) => {
    const pair: { client: Socket; upstream?: Socket } = { client };
    pairs.add(pair);
    client.on("error", () => {});
    client.on("close", () => {
      pair.upstream?.destroy();
      pairs.delete(pair);
    });
    if (hanging) {
      client.pause(); // held open, never answered
      return;
    }
    const upstream = connect(target.port, target.host);
    pair.upstream = upstream;
    upstream.on("error", () => client.destroy());
    upstream.on("close", () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("the proxy has no port");
  const proxy: TcpProxy = {
    port: address.port,
    hang() {
      hanging = true;
      for (const { client, upstream } of pairs) {
        client.unpipe();
        upstream?.unpipe();
        client.pause();
        upstream?.pause();
      }
    },
    restore() {
      hanging = false;
      for (const { client, upstream } of pairs) {
        client.destroy();
        upstream?.destroy();
      }
      pairs.clear();
    },
    async stop() {
      proxy.restore();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return proxy;
}
