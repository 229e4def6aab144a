// A TCP proxy between a client under test and a server, for the network faults a closed server
// cannot show: a link that goes silent without closing anything (cut(): every connection stalls,
// new ones are accepted and held, as over a dead radio link; restore() lets the bytes flow on), and
// acknowledgements lost on the way back (dropping what a PutMedia call's server sends).

import net from 'node:net';
import type { ExecutionContext } from 'ava';

export interface TcpProxy {
  /** The proxy's own URL, e.g. http://127.0.0.1:40123. */
  url: string;
  /** Stalls every connection, both ways, and holds new ones unconnected. */
  cut(): void;
  /** Lets everything held flow again. */
  restore(): void;
  /** While true, what the server sends on PutMedia connections is thrown away. */
  dropPutMediaResponses: boolean;
  close(): Promise<void>;
}

export async function startTcpProxy(t: ExecutionContext, target: { host?: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  const held: (() => void)[] = [];
  let isCut = false;

  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    client.pause();
    const connect = () => {
      if (client.destroyed) return;
      const upstream = net.connect(target.port, target.host ?? '127.0.0.1');
      sockets.add(upstream);
      upstream.on('close', () => {
        sockets.delete(upstream);
        client.destroy();
      });
      upstream.on('error', () => upstream.destroy());
      client.on('close', () => upstream.destroy());
      let isPutMedia: boolean | undefined;
      client.on('data', (chunk: Buffer) => {
        isPutMedia ??= chunk.subarray(0, 16).toString('latin1').startsWith('POST /putMedia');
        upstream.write(chunk);
      });
      upstream.on('data', (chunk: Buffer) => {
        if (!(isPutMedia && proxy.dropPutMediaResponses)) client.write(chunk);
      });
      client.on('end', () => upstream.end());
      upstream.on('end', () => client.end());
      if (isCut) upstream.pause();
      else client.resume();
    };
    if (isCut) held.push(connect);
    else connect();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;

  const proxy: TcpProxy = {
    url: `http://127.0.0.1:${port}`,
    dropPutMediaResponses: false,
    cut() {
      isCut = true;
      for (const socket of sockets) socket.pause();
    },
    restore() {
      isCut = false;
      for (const socket of sockets) socket.resume();
      for (const connect of held.splice(0)) connect();
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  t.teardown(() => proxy.close());
  return proxy;
}
