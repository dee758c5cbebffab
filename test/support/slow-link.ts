/**
^ * A slow, thin link (a mobile network) as a TCP proxy: every byte of every connection crosses one shared uplink and
 * one shared downlink of `rate` bytes/s each, and arrives `rtt / 2` (± jitter) after it left the wire. Byte order per
 * connection is kept; a connection whose bytes queue up is paused (TCP's flow control), so the sender sees its
 * upload take the time the link takes.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface LinkShape {
  /** uplink (client → server) bytes/s */
  up: number;
  /** downlink (server → client) bytes/s */
  down: number;
  /** round trip, ms (half each way) */
  rttMs: number;
  /** ± ms on each one-way delay (order is kept) */
  jitterMs?: number;
}

const PIECE = 2048;
const HIGH = 64 * 1024;
const LOW = 16 * 1024;

class Wire {
  freeAt = 0;
  bytes = 0;
  constructor(public rate: number) {}
}

export interface SlowLink {
  shape: LinkShape;
  /** A URL equal to `target` but reaching it through the link. */
  through(target: string): Promise<string>;
  readonly bytesUp: number;
  readonly bytesDown: number;
  readonly connections: number;
  /** Destroys every connection going through the link now. */
  cut(): void;
  close(): Promise<void>;
}

export async function startSlowLink(shape: LinkShape): Promise<SlowLink> {
  const up = new Wire(shape.up);
  const down = new Wire(shape.down);
  const servers: Server[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  const oneWay = () => shape.rttMs / 2 + (shape.jitterMs ? (Math.random() * 2 - 1) * shape.jitterMs : 0);

  function pipe(from: Socket, to: Socket, wire: Wire) {
    let lastAt = 0;
    let queued = 0;
    let ended = false;
    const timers = new Set<ReturnType<typeof setTimeout>>();
    // one FIFO per direction and connection, drained by one timer: bytes never overtake each other
    const fifo: Array<{ piece: Uint8Array; at: number }> = [];
    let head: ReturnType<typeof setTimeout> | undefined;
    const drain = () => {
      head = undefined;
      const t = Date.now();
      while (fifo.length && fifo[0]!.at <= t) {
        const { piece } = fifo.shift()!;
        queued -= piece.byteLength;
        if (!to.destroyed) to.write(piece);
      }
      if (queued < LOW && from.isPaused()) from.resume();
      if (fifo.length) head = setTimeout(drain, Math.max(0, fifo[0]!.at - Date.now()));
      if (!fifo.length && finish) finish();
    };
    let finish: (() => void) | undefined;
    const deliver = (piece: Uint8Array, at: number) => {
      fifo.push({ piece, at });
      head ??= setTimeout(drain, Math.max(0, fifo[0]!.at - Date.now()));
    };
    from.on('data', (data: Buffer) => {
      wire.rate = wire === up ? shape.up : shape.down;
      for (let i = 0; i < data.length; i += PIECE) {
        const piece = data.subarray(i, i + PIECE);
        const now = Date.now();
        const start = Math.max(now, wire.freeAt);
        wire.freeAt = start + (piece.length / wire.rate) * 1000;
        wire.bytes += piece.length;
        const at = Math.max(wire.freeAt + oneWay(), lastAt);
        lastAt = at;
        queued += piece.length;
        deliver(Uint8Array.from(piece), at);
      }
      if (queued > HIGH) from.pause();
    });
    from.on('end', () => {
      ended = true;
      finish = () => {
        finish = undefined;
        const t = setTimeout(() => to.end(), Math.max(0, oneWay()));
        timers.add(t);
      };
      if (!fifo.length) finish();
    });
    from.on('close', () => {
      if (!ended) {
        // an abrupt close travels as a reset, after what was already sent
        finish = () => {
          finish = undefined;
          if (to.writableLength === 0) to.destroy();
          else to.end();
        };
        if (!fifo.length) finish();
      }
    });
    to.on('close', () => {
      // nothing more can reach `to`; the other direction's pipe ends `from` once what it owes `from` has arrived
      if (head) clearTimeout(head);
      fifo.length = 0;
      if (from.isPaused()) from.resume();
    });
  }

  return {
    shape,
    async through(target: string) {
      const url = new URL(target);
      const port = Number(url.port || 80);
      const host = url.hostname;
      const server = createServer({ allowHalfOpen: true }, (client) => {
        connections++;
        const upstream = connect({ port, host, allowHalfOpen: true });
        sockets.add(client);
        sockets.add(upstream);
        client.on('error', () => undefined);
        upstream.on('error', () => undefined);
        client.on('close', () => sockets.delete(client));
        upstream.on('close', () => sockets.delete(upstream));
        pipe(client, upstream, up);
        pipe(upstream, client, down);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      servers.push(server);
      const address = server.address() as { port: number };
      url.hostname = '127.0.0.1';
      url.port = String(address.port);
      return url.toString().replace(/\/$/, target.endsWith('/') ? '/' : '');
    },
    get bytesUp() {
      return up.bytes;
    },
    get bytesDown() {
      return down.bytes;
    },
    get connections() {
      return connections;
    },
    cut() {
      for (const s of sockets) s.destroy();
    },
    async close() {
      for (const s of sockets) s.destroy();
      await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    },
  };
}
