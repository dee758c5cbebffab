/**
 * A tiny HTTP front that forwards to `target`, or answers chosen requests with raw bytes (a redirect, a wrong
 * content-type, truncated JSON): what the fault proxy's JSON `answer` cannot say. Counts requests, so loops after
 * close() show.
 */
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface RawAnswer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}
export type RawRule = (req: { method: string; path: string; url: string }) => RawAnswer | undefined;

export interface RawFront {
  url: string;
  rule: RawRule | undefined;
  count: number;
  log: { method: string; url: string; at: number; raw: boolean }[];
  close(): Promise<void>;
}

export async function startRawFront(target: string): Promise<RawFront> {
  const base = new URL(target);
  const sockets = new Set<Socket>();
  const front: RawFront = {
    url: '',
    rule: undefined,
    count: 0,
    log: [],
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server: Server = createServer((req, res) => {
    const url = req.url ?? '/';
    const info = { method: (req.method ?? 'GET').toUpperCase(), url, path: url.split('?')[0]! };
    front.count++;
    const raw = front.rule?.(info);
    front.log.push({ method: info.method, url, at: Date.now(), raw: !!raw });
    if (raw) {
      req.resume();
      res.writeHead(raw.status, { 'content-length': String(Buffer.byteLength(raw.body ?? '')), ...raw.headers });
      res.end(raw.body ?? '');
      return;
    }
    const upstream = httpRequest(
      { host: base.hostname, port: base.port, method: req.method, path: url, headers: { ...req.headers, host: base.host }, agent: false },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        answer.on('error', () => res.destroy());
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  front.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${base.pathname.replace(/\/+$/, '')}`;
  return front;
}
