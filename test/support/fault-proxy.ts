/**
 * A real HTTP proxy on loopback in front of one emulator service (CouchDB, accounts or REST), for fault injection at
 * the socket level: what a client meets when a server or a middlebox misbehaves, with no change to the client's fetch.
 *
 * Faults are chosen per request by a predicate on method and path:
 * - `hold`: never forwarded, never answered (the connection stays open until `release()` or `close()`);
 * - `swallow`: forwarded (the server applies it), the answer never comes back (held like `hold`);
 * - `reset`: the socket is destroyed before the request is forwarded;
 * - `reset-after`: forwarded, then the socket is destroyed instead of answering;
 * - `delay`: forwarded after `delayMs`;
 * - `stall`: forwarded, the answer's status and headers come back, then nothing more (its body is dropped; the
 *   connection stays open like `hold`): a stream that goes silent half-way, e.g. a half-open connection;
 * - `buffer`: forwarded, the answer passed on only once it has ended, whole (a proxy that buffers answers, as nginx
 *   does with `proxy_buffering on`): a streamed answer that never ends never comes.
 * - `answer`: never forwarded; answered with `status` and the JSON `body` of the options (e.g. CouchDB's 403 once an
 *   admin took the user's access away).
 *
 * ```ts
 * const proxy = await startFaultProxy(emu.couchUrl);
 * const off = proxy.fault({ method: 'POST', path: /\/_bulk_docs$/ }, 'hold', { times: 1 });
 * ```
 */
import { afterAll, beforeAll } from 'vitest';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type FaultAction = 'hold' | 'swallow' | 'reset' | 'reset-after' | 'delay' | 'stall' | 'buffer' | 'answer';

export interface FaultRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  /** Path with the query string. */
  url: string;
  /** The request's `content-length` (a body sent chunked: undefined). */
  bytes?: number | undefined;
}

/** Which requests a fault applies to: a predicate, or a method and/or a path pattern (both must match). */
export type FaultMatch = ((req: FaultRequest) => boolean) | { method?: string; path?: RegExp | string };

export interface FaultOptions {
  /** How many matching requests get the fault; afterwards it is removed. @default Infinity */
  times?: number;
  /** For `delay`: how long, in ms. @default 500 */
  delayMs?: number;
  /** For `answer`: the status. @default 500 */
  status?: number;
  /** For `answer`: the JSON body. @default `{ error: 'unknown_error', reason: 'fault proxy' }` */
  body?: unknown;
}

export interface FaultProxy {
  /** Base URL of the proxy (use it as `couchUrl` / `accountsUrl`). */
  readonly url: string;
  /** Adds a fault; returns a function removing it. The first matching fault (in insertion order) applies. */
  fault(match: FaultMatch, action: FaultAction, options?: FaultOptions): () => void;
  /** Removes every fault (held requests stay held: see `release`). */
  clear(): void;
  /** Requests held right now (`hold`, `swallow`, `stall`). */
  readonly held: number;
  /** How many requests met each action so far. */
  readonly counts: Readonly<Record<FaultAction | 'pass', number>>;
  /** Every request seen, in order. */
  readonly log: readonly (FaultRequest & { action: FaultAction | 'pass' })[];
  /** Destroys every connection now, streams under way included (a network outage's start). */
  cut(): void;
  /** Ends the held requests: their sockets are destroyed (the client sees a reset). */
  release(): void;
  /** Stops the proxy and destroys every connection. */
  close(): Promise<void>;
}

interface Rule {
  test(req: FaultRequest): boolean;
  action: FaultAction;
  left: number;
  delayMs: number;
  status: number;
  body: unknown;
}

function toPredicate(match: FaultMatch): (req: FaultRequest) => boolean {
  if (typeof match === 'function') return match;
  return (req) => {
    if (match.method !== undefined && match.method.toUpperCase() !== req.method) return false;
    if (match.path === undefined) return true;
    return typeof match.path === 'string' ? req.path === match.path : match.path.test(req.path);
  };
}

/** Starts a proxy on 127.0.0.1 (a free port) forwarding to `target` (an http origin, with or without a path). */
export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const base = new URL(target);
  const rules: Rule[] = [];
  const sockets = new Set<Socket>();
  const held = new Set<Socket>();
  const counts: Record<FaultAction | 'pass', number> = { hold: 0, swallow: 0, reset: 0, 'reset-after': 0, delay: 0, stall: 0, buffer: 0, answer: 0, pass: 0 };
  const log: (FaultRequest & { action: FaultAction | 'pass' })[] = [];

  const pick = (req: FaultRequest): Rule | undefined => {
    const rule = rules.find((r) => r.left > 0 && r.test(req));
    if (!rule) return undefined;
    rule.left--;
    if (rule.left <= 0) rules.splice(rules.indexOf(rule), 1);
    return rule;
  };

  /** Forwards the request; resolves with the server's response (body not read yet), or undefined if it failed. */
  const forward = (req: IncomingMessage, body: Buffer): Promise<IncomingMessage | undefined> =>
    new Promise((resolve) => {
      const headers = { ...req.headers, host: base.host };
      const upstream = httpRequest(
        { host: base.hostname, port: base.port, method: req.method, path: req.url, headers, agent: false },
        resolve,
      );
      upstream.on('error', () => resolve(undefined));
      // A read whose client went away (cut, reset, its own abort) ends at the server too, as nginx ends it: a long-poll
      // left running there held a changes listener per outage. (A write is left to finish: what a server does with a
      // request whose client went away is what some tests are about.)
      if (req.method === 'GET' || req.method === 'HEAD') {
        const drop = () => upstream.destroy();
        req.socket.once('close', drop);
        upstream.once('close', () => req.socket.off('close', drop));
      }
      upstream.end(body);
    });

  /** Ends `answer` (the server's side) when the client's socket closes before it ended. */
  const endWithClient = (socket: Socket, answer: IncomingMessage) => {
    const drop = () => answer.destroy();
    socket.once('close', drop);
    answer.once('close', () => socket.off('close', drop));
  };

  const hold = (socket: Socket) => {
    held.add(socket);
    socket.once('close', () => held.delete(socket));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Uint8Array[] = [];
    for await (const chunk of req) chunks.push(chunk as Uint8Array);
    const body = Buffer.concat(chunks);
    const url = req.url ?? '/';
    const length = Number(req.headers['content-length']);
    const info: FaultRequest = { method: (req.method ?? 'GET').toUpperCase(), url, path: url.split('?')[0]!, bytes: Number.isFinite(length) ? length : undefined };
    const rule = pick(info);
    const action = rule?.action ?? 'pass';
    counts[action]++;
    log.push({ ...info, action });
    const socket = req.socket;
    switch (action) {
      case 'hold':
        return hold(socket);
      case 'reset':
        return void socket.destroy();
      case 'delay':
        await new Promise((resolve) => setTimeout(resolve, rule!.delayMs));
        break;
      case 'answer': {
        const json = JSON.stringify(rule!.body);
        res.writeHead(rule!.status, { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(json)) });
        return void res.end(json);
      }
      default:
        break;
    }
    const answer = await forward(req, body);
    if (!answer) return void socket.destroy();
    if (action === 'swallow' || action === 'reset-after') {
      answer.resume();
      await new Promise((resolve) => answer.once('end', resolve).once('error', resolve));
      return action === 'swallow' ? hold(socket) : void socket.destroy();
    }
    if (action === 'buffer') {
      hold(socket);
      const parts: Uint8Array[] = [];
      answer.on('data', (chunk: Uint8Array) => parts.push(chunk));
      answer.once('error', () => socket.destroy());
      answer.once('end', () => {
        held.delete(socket);
        const whole = Buffer.concat(parts);
        const headers = { ...answer.headers, 'content-length': String(whole.length) };
        delete headers['transfer-encoding'];
        res.writeHead(answer.statusCode ?? 502, answer.statusMessage, headers);
        res.end(whole);
      });
      return;
    }
    res.writeHead(answer.statusCode ?? 502, answer.statusMessage, answer.headers);
    if (action === 'stall') {
      res.flushHeaders();
      answer.resume();
      endWithClient(socket, answer);
      return hold(socket);
    }
    answer.pipe(res);
    answer.once('error', () => socket.destroy());
    // The client went away while the answer streams (a live feed): the server's side ends too.
    endWithClient(socket, answer);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => req.socket.destroy());
  });
  server.keepAliveTimeout = 5_000;
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const path = base.pathname.replace(/\/+$/, '');

  return {
    url: `http://127.0.0.1:${port}${path}`,
    fault(match, action, options = {}) {
      const rule: Rule = {
        test: toPredicate(match),
        action,
        left: options.times ?? Infinity,
        delayMs: options.delayMs ?? 500,
        status: options.status ?? 500,
        body: options.body ?? { error: 'unknown_error', reason: 'fault proxy' },
      };
      rules.push(rule);
      return () => {
        const i = rules.indexOf(rule);
        if (i >= 0) rules.splice(i, 1);
      };
    },
    clear: () => void (rules.length = 0),
    get held() {
      return held.size;
    },
    counts,
    log,
    cut() {
      for (const socket of sockets) socket.destroy();
    },
    release() {
      for (const socket of held) socket.destroy();
      held.clear();
    },
    async close() {
      rules.length = 0;
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A fault proxy for the current test file, forwarding to `target()` (read once the file's hooks run, e.g.
 * `() => emu.couchUrl`): started before the file's tests, its faults cleared and held requests released, then closed
 * after them. Returns a stand-in that forwards to it once started, as `useEmulator` does.
 */
export function useFaultProxy(target: () => string): FaultProxy {
  let real: FaultProxy | undefined;
  beforeAll(async () => {
    real = await startFaultProxy(target());
  });
  afterAll(async () => {
    real?.clear();
    real?.release();
    await real?.close();
  });
  return new Proxy({} as FaultProxy, {
    get(_, property) {
      if (!real) throw new Error('The fault proxy is not started yet (use it inside tests or hooks)');
      const value = (real as unknown as Record<PropertyKey, unknown>)[property];
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(real) : value;
    },
  });
}
