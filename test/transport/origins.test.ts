/**
 * Issue 20: answers only from the configured origins (redirects refused), credentials never inside URLs, header values
 * fetch cannot send reported once as `bad_response`, a refused fixed credential reported once (no loop), the browser's
 * `offline`/`online` events driving the status, and `202 Accepted` counted.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createFeatClient, type AcceptedWrite, type FeatClient, type FeatClientOptions, type FeatError, type SyncStatus } from '@feat/sdk';
import { createFeatApi } from '@feat/sdk/api';
import { startEmulator, type Emulator } from '@feat/emulator';
import { useEmulator, waitFor } from '../support/backend.js';
import { rejectsWith, uniqueName, urlOf } from '../session/harness.js';

const emu = useEmulator({ peruserDelayMs: 0 });
let attacker: Emulator;
let redirector: Server;
let redirectorUrl: string;
const clients: FeatClient[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  attacker = await startEmulator({ port: 0, peruserDelayMs: 0 });
  // Answers every request with a 302 to the same path on the attacker's accounts service.
  redirector = createServer((req, res) => {
    const to = new URL(req.url ?? '/', req.url?.startsWith('/api/') ? attacker.apiUrl : attacker.accountsUrl);
    res.writeHead(302, { location: to.href }).end();
  });
  await new Promise<void>((resolve) => redirector.listen(0, '127.0.0.1', resolve));
  redirectorUrl = `http://127.0.0.1:${(redirector.address() as AddressInfo).port}`;
});
afterEach(async () => {
  vi.unstubAllGlobals();
  await Promise.allSettled(clients.splice(0).map((c) => c.close()));
});
afterAll(async () => {
  await attacker.stop();
  await new Promise<void>((resolve) => redirector.close(() => resolve()));
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function client(extra: Partial<FeatClientOptions> & { auth?: string }): FeatClient {
  const c = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, local: { adapter: 'memory' }, ...extra });
  clients.push(c);
  return c;
}

const isToken = (input: RequestInfo | URL) => new URL(urlOf(input)).pathname.endsWith('/couchdb/token/');

describe('answers only from the configured origins', () => {
  it('a token answer redirected to another origin is refused (bad_response); the other origin is never asked', async () => {
    const before = attacker.stats().byService.accounts.requests;
    const c = client({ accountsUrl: redirectorUrl, auth: emu.bearerFor('victim'), mode: 'remote' });
    const error = await rejectsWith(c.ready(), 'bad_response');
    expect(error.message).toMatch(/redirect/);
    expect(attacker.stats().byService.accounts.requests).toBe(before);
  });

  it('a REST answer redirected to another origin is refused (bad_response)', async () => {
    const api = createFeatApi({ apiUrl: redirectorUrl, auth: emu.bearerFor('victim') });
    const before = attacker.stats().byService.api.requests;
    const error = await rejectsWith(api.weixin.sign({ url: 'https://example.com/page' }), 'bad_response');
    expect(error.message).toMatch(/redirect/);
    expect(attacker.stats().byService.api.requests).toBe(before);
  });
});

describe('credentials never inside URLs', () => {
  it('couchUrl or accountsUrl with user:password@ → invalid_argument before any request; the password is never printed', () => {
    for (const options of [
      { couchUrl: 'https://admin:s3cret-pw@couch.example.com', accountsUrl: 'https://accounts.example.com' },
      { couchUrl: 'https://couch.example.com', accountsUrl: 'https://user:s3cret-pw@accounts.example.com' },
      { couchUrl: 'https://admin:s3cret-pw@couch example.com', accountsUrl: 'https://accounts.example.com' },
    ]) {
      let error: FeatError | undefined;
      try {
        createFeatClient({ ...options, auth: 'Bearer x' });
      } catch (e) {
        error = e as FeatError;
      }
      expect(error?.code).toBe('invalid_argument');
      expect(error?.message).not.toContain('s3cret-pw');
    }
  });
});

describe('header values fetch cannot send', () => {
  it('a proxy header value that is not Latin-1 → bad_response once (not network), no CouchDB request', async () => {
    let tokenCalls = 0;
    let couchCalls = 0;
    const name = uniqueName('latin1');
    const fetchFn: typeof fetch = async (input, init) => {
      if (isToken(input)) {
        tokenCalls++;
        const res = await fetch(input, init);
        const body = (await res.json()) as { data: { headers: Record<string, string> } };
        body.data.headers['X-Auth-CouchDB-UserName'] = 'Zoë €';
        return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });
      }
      couchCalls++;
      return fetch(input, init);
    };
    const c = client({ auth: emu.bearerFor(name), mode: 'remote', fetch: fetchFn });
    const error = await rejectsWith(c.ready(), 'bad_response');
    expect(error.message).toMatch(/Latin-1/);
    expect([tokenCalls, couchCalls]).toEqual([1, 0]);
  });

  it('a fixed session header or auth value that is not Latin-1 → invalid_argument at creation', () => {
    expect(() => createFeatClient({ couchUrl: emu.couchUrl, session: { dbName: 'userdb-61', headers: { 'X-Auth-CouchDB-UserName': '€' } } })).toThrow(
      /Latin-1/,
    );
    expect(() => createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: 'Bearer €' })).toThrow(/Latin-1/);
  });
});

describe('a replica reopened offline whose connection keeps failing the same way: reported once', () => {
  /** Syncs a LevelDB replica, then reopens it with `answer` standing in for the token endpoint. */
  async function reopenWith(answer: (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>) {
    const name = uniqueName('once');
    const dir = mkdtempSync(join(tmpdir(), 'feat-i20-'));
    dirs.push(dir);
    const local = { adapter: 'leveldb', name: join(dir, 'replica') };
    const first = client({ auth: emu.bearerFor(name), local });
    await first.ready();
    await first.sync.waitForPush({ timeout: 10_000 });
    await first.close();
    const seen = { tokenCalls: 0, errors: [] as FeatError[], statuses: [] as SyncStatus[] };
    const fetchFn: typeof fetch = (input, init) => {
      if (!isToken(input)) return fetch(input, init);
      seen.tokenCalls++;
      return answer(input, init);
    };
    const again = client({ auth: emu.bearerFor(name), local, fetch: fetchFn });
    again.sync.on('error', (e) => seen.errors.push(e));
    again.sync.on('status', (s) => seen.statuses.push(s));
    await again.ready(); // offline start from the replica; the connection is made in the background
    return { again, seen };
  }

  it('a static bearer the service now refuses: one denied, one token request (no loop)', async () => {
    const { again, seen } = await reopenWith(() =>
      Promise.resolve(new Response(JSON.stringify({ detail: 'Invalid token.' }), { status: 401, headers: { 'content-type': 'application/json' } })),
    );
    await waitFor(() => again.sync.status === 'denied', 5_000, 'denied');
    await new Promise((resolve) => setTimeout(resolve, 3_000)); // the old code asked again 8 times in this window
    expect(seen.tokenCalls).toBe(1);
    expect(seen.errors.map((e) => e.code)).toEqual(['unauthorized']);
    expect(seen.statuses.filter((s) => s === 'denied')).toHaveLength(1);
  });

  it('token headers fetch cannot send: bad_response reported once while the connection is retried with backoff', async () => {
    const { again, seen } = await reopenWith(async (input, init) => {
      const body = (await (await fetch(input, init)).json()) as { data: { headers: Record<string, string> } };
      body.data.headers['X-Auth-CouchDB-Token'] = '€';
      return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });
    });
    await waitFor(() => again.sync.status === 'error', 5_000, 'error');
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(seen.tokenCalls).toBeGreaterThanOrEqual(2);
    expect(seen.errors.map((e) => e.code)).toEqual(['bad_response']);
  });
});

describe('the browser says offline / online', () => {
  function browser(onLine: boolean) {
    const events = new EventTarget();
    const navigator = { onLine };
    vi.stubGlobal('navigator', navigator);
    vi.stubGlobal('addEventListener', events.addEventListener.bind(events));
    vi.stubGlobal('removeEventListener', events.removeEventListener.bind(events));
    return {
      go(state: 'offline' | 'online') {
        navigator.onLine = state === 'online';
        events.dispatchEvent(new Event(state));
      },
    };
  }

  it('started with navigator.onLine false → offline (not idle); the online event restores the real status', async () => {
    const net = browser(false);
    const c = client({ auth: emu.bearerFor(uniqueName('nav')), mode: 'remote' });
    await c.ready();
    expect(c.sync.status).toBe('offline');
    const statuses: SyncStatus[] = [];
    c.sync.on('status', (s) => statuses.push(s));
    net.go('online');
    expect(c.sync.status).toBe('idle');
    net.go('offline');
    expect(c.sync.status).toBe('offline');
    expect(statuses).toEqual(['idle', 'offline']);
  });

  it('local-first: the offline event turns the status offline at once; online brings sync back', async () => {
    const net = browser(true);
    const c = client({ auth: emu.bearerFor(uniqueName('nav-lf')) });
    await c.ready();
    await waitFor(() => c.sync.status === 'idle', 10_000, 'idle');
    net.go('offline');
    expect(c.sync.status).toBe('offline');
    net.go('online');
    await waitFor(() => c.sync.status === 'idle', 10_000, 'idle again');
  });
});

describe('202 Accepted', () => {
  it('a write the server answers with 202 is counted on sync.accepted and emitted as an accepted event', async () => {
    const name = uniqueName('accepted');
    const partial: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (init?.method !== 'POST' || !urlOf(input).includes('/_bulk_docs') || res.status !== 201) return res;
      return new Response(await res.text(), { status: 202, headers: res.headers });
    };
    const c = client({ auth: emu.bearerFor(name), mode: 'remote', fetch: partial });
    const events: AcceptedWrite[] = [];
    c.sync.on('accepted', (e) => events.push(e));
    await c.store.set('k', 'v');
    expect(c.sync.accepted).toBe(1);
    expect(events).toEqual([{ method: 'POST', path: expect.stringMatching(/\/_bulk_docs$/) as string, ids: ['k'] }]);
    await expect(c.store.get('k')).resolves.toBe('v');
  });
});
