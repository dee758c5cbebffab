/**
 * A TCP proxy in front of one port that shows what each open connection is doing: how many are open, and the last
 * request line seen on each (a browser's six HTTP/1.1 connections per host, test/e2e/connection-budget.e2e.test.ts).
 */
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

export interface CountingProxy {
  url: string;
  /** Connections open now. */
  open(): number;
  /** The last request line on each open connection (method and path, the user's database named `db`). */
  lines(): string[];
  /**
   * Open connections whose last request is a live `_changes` feed (long-poll or continuous): the feeds held now (a
   * long-poll answered and asked again goes out on the connection it came back on).
   */
  held(): number;
  close(): Promise<void>;
}

const FEED = /_changes\?.*feed=(longpoll|continuous)/;

export async function countingProxy(target: string): Promise<CountingProxy> {
  const { hostname, port } = new URL(target);
  const sockets = new Map<Socket, { line: string }>();
  const server = createServer((down) => {
    const up = connect(Number(port), hostname);
    const state = { line: '(none)' };
    sockets.set(down, state);
    const end = () => {
      sockets.delete(down);
      down.destroy();
      up.destroy();
    };
    down.on('error', end).on('close', end);
    up.on('error', end).on('close', end);
    down.on('data', (chunk: Buffer) => {
      const m = /^(GET|POST|PUT|DELETE|HEAD|OPTIONS) (\S+)/.exec(chunk.toString('latin1', 0, 400));
      if (!m) return;
      state.line = `${m[1]} ${m[2]!.replace(/userdb-[0-9a-f]+/, 'db').slice(0, 120)}`;
    });
    down.pipe(up);
    up.pipe(down);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    open: () => sockets.size,
    lines: () => [...sockets.values()].map((s) => s.line),
    held: () => [...sockets.values()].filter((s) => FEED.test(s.line)).length,
    async close() {
      for (const s of sockets.keys()) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
