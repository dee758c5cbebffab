/**
 * A small accounts service in front of the emulator's (or the real stack's) accounts endpoint, with
 * "session" bearers the test can revoke, and faults for the token request (slow, 5xx, 401, another user's token).
 * Counts every token request, per session bearer.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll } from 'vitest';

export type FrontMode =
  | { kind: 'pass' }
  | { kind: 'delay'; ms: number }
  | { kind: 'status'; status: number; body?: unknown; headers?: Record<string, string> }
  | { kind: 'other'; user: string }
  | { kind: 'hang' }
  | { kind: 'fixed'; body: string };

export interface TokenRequest {
  at: number;
  bearer: string;
  answered?: number;
}

export interface AccountsFront {
  url: string;
  mode: FrontMode;
  /** Session bearers → user; a bearer not here (revoked) → 401 Invalid token. */
  sessions: Map<string, string>;
  log: TokenRequest[];
  count(bearerPrefix?: string, since?: number): number;
  close(): Promise<void>;
}

export async function startAccountsFront(upstream: string, bearerFor: (user: string) => string): Promise<AccountsFront> {
  const held = new Set<ServerResponse>();
  const front: AccountsFront = {
    url: '',
    mode: { kind: 'pass' },
    sessions: new Map(),
    log: [],
    count: (prefix = '', since = 0) => front.log.filter((r) => r.bearer.includes(prefix) && r.at >= since).length,
    close: async () => {
      for (const r of held) r.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections?.();
    },
  };
  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const bearer = String(req.headers.authorization ?? '').replace(/^Bearer\s+/i, '');
    const entry: TokenRequest = { at: Date.now(), bearer };
    front.log.push(entry);
    res.on('finish', () => (entry.answered = Date.now()));
    const mode = front.mode;
    if (mode.kind === 'hang') {
      held.add(res);
      res.on('close', () => held.delete(res));
      return;
    }
    if (mode.kind === 'delay') await new Promise((r) => setTimeout(r, mode.ms));
    if (mode.kind === 'status') return send(res, mode.status, mode.body ?? { detail: 'fault' }, mode.headers);
    if (mode.kind === 'fixed') return send(res, 200, mode.body);
    const user = front.sessions.get(bearer);
    if (user === undefined) return send(res, 401, { detail: 'Invalid token.' }, { 'www-authenticate': 'Bearer realm="api"' });
    const as = mode.kind === 'other' ? mode.user : user;
    try {
      const r = await fetch(`${upstream}${req.url ?? '/couchdb/token/'}`, { headers: { authorization: bearerFor(as) } });
      send(res, r.status, await r.text());
    } catch {
      res.destroy();
    }
  };
  const server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  front.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return front;
}

/** Counts a client's CouchDB requests and their statuses (the client's `fetch` option); `offline` makes it throw. */
export function couchCounter() {
  const c = {
    offline: false,
    calls: [] as { at: number; method: string; path: string; status?: number }[],
    fetch: (async (input: RequestInfo | URL, init?: RequestInit) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      const call: { at: number; method: string; path: string; status?: number } = { at: Date.now(), method: (init?.method ?? 'GET').toUpperCase(), path: new URL(url).pathname };
      c.calls.push(call);
      if (c.offline) throw new TypeError('fetch failed');
      const r = await globalThis.fetch(input, init);
      call.status = r.status;
      return r;
    }) as typeof fetch,
    status: (s: number, since = 0) => c.calls.filter((x) => x.status === s && x.at >= since).length,
  };
  return c;
}

/**
 * An accounts front started before the file's tests (in front of `emu`'s accounts service) and closed after them:
 * `set` receives it once started.
 */
export function useAccountsFront(emu: { accountsUrl: string; bearerFor(user: string): string }, set: (front: AccountsFront) => void): void {
  let front: AccountsFront | undefined;
  beforeAll(async () => {
    front = await startAccountsFront(emu.accountsUrl, (u) => emu.bearerFor(u));
    set(front);
  });
  afterAll(async () => {
    await front?.close();
  });
}
