/**
 * Security properties under a full run with faults (issue 9):
 * - proxy headers are sent to `couchUrl` and nowhere else — accounts, REST (`client.api`), redirects included;
 * - tokens, bearers and the proxy secret never reach the console;
 * - `logout({ destroyLocal: true })` leaves no user data behind (leveldb directory, memory replica);
 * - the emulator's denial rules hold under a fuzzer: another user's token never reads or changes a user's data.
 */
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createFeatClient, type FeatClient, type FeatClientOptions, type FeatError } from '@feat/sdk';
import { startEmulator, type Emulator } from '@feat/emulator';

const SEED = process.env.FEAT_SEED ? Number(process.env.FEAT_SEED) : Date.now() ^ (process.pid << 8);
const RUNS = Number(process.env.FEAT_FUZZ_RUNS) || (process.env.FEAT_LONG === '1' ? 3_000 : 300);

let emu: Emulator;
const clients: FeatClient[] = [];
beforeAll(async () => {
  emu = await startEmulator({ port: 0, peruserDelayMs: 0 });
  console.info(`[reliability] security seed ${SEED}, numRuns ${RUNS}`);
});
afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  await emu?.stop();
});

let n = 0;
const user = () => `sec-${process.pid}-${n++}-${Math.random().toString(36).slice(2, 8)}`;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Sent {
  url: string;
  headers: Headers;
  redirect: RequestRedirect | undefined;
}
function recording(): { fetch: typeof fetch; sent: Sent[] } {
  const sent: Sent[] = [];
  return {
    sent,
    fetch: (input, init) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      const headers = new Headers(input instanceof Request ? input.headers : undefined);
      new Headers(init?.headers).forEach((v, k) => headers.set(k, v));
      sent.push({ url, headers, redirect: init?.redirect ?? (input instanceof Request ? input.redirect : undefined) });
      return fetch(input, init);
    },
  };
}
const below = (url: string, base: string) => url === base || url.startsWith(base + '/') || url.startsWith(base + '?');
const proxyHeaderNames = (h: Headers) => [...h.keys()].filter((k) => k.toLowerCase().startsWith('x-auth-couchdb'));

/** A tiny HTTP server that records every request it receives (an "evil" origin) or redirects to one. */
async function httpServer(handler: (req: { url: string; headers: IncomingHttpHeaders }, res: ServerResponse) => void) {
  const got: { url: string; headers: IncomingHttpHeaders }[] = [];
  const server: Server = createServer((req, res) => {
    const r = { url: req.url ?? '', headers: req.headers };
    got.push(r);
    handler(r, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, got, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe('proxy headers go to couchUrl only; nothing secret reaches the console', () => {
  it('a full local-first + remote run with faults and client.api calls', async () => {
    const name = user();
    const spies = (['log', 'info', 'warn', 'error', 'debug', 'trace'] as const).map((m) => vi.spyOn(console, m).mockImplementation(() => undefined));
    const rec = recording();
    const secrets = new Set<string>([emu.secret, emu.bearerFor(name), emu.bearerFor(name).replace(/^Bearer /, ''), emu.couchHeadersFor(name)['X-Auth-CouchDB-Token']]);
    const errors: FeatError[] = [];
    const calls: unknown[][] = [];
    try {
      const opts: FeatClientOptions = { couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, apiUrl: emu.apiUrl, auth: emu.bearerFor(name), fetch: rec.fetch, local: { adapter: 'memory' } };
      const lf = createFeatClient(opts);
      const rm = createFeatClient({ ...opts, mode: 'remote' });
      // A client with no error listener: background failures go to console.warn — they must not carry secrets.
      const quiet = createFeatClient({ ...opts, maxRequestBytes: 0 });
      clients.push(lf, rm, quiet);
      rm.sync.on('error', (e) => errors.push(e));
      await Promise.all([lf.ready(), rm.ready(), quiet.ready()]);
      await lf.store.set('a', { v: 1 });
      await rm.store.setParts('p', { x: 1, y: 'y'.repeat(1_500_000) });
      await quiet.store.set('too-big-for-the-proxy', 'z'.repeat(1_200_000)); // → too_large in the background
      const warned = () => spies.some((s) => s.mock.calls.length > 0);
      for (const deadline = Date.now() + 20_000; !warned() && Date.now() < deadline; ) await sleep(100);
      await emu.suspend();
      await lf.store.set('offline', 1);
      await rm.store.set('offline', 2).catch((e: FeatError) => errors.push(e));
      emu.rotateSecret();
      secrets.add(emu.secret);
      await emu.resume();
      secrets.add(emu.couchHeadersFor(name)['X-Auth-CouchDB-Token']);
      await rm.store.set('after', 3).catch((e: FeatError) => errors.push(e));
      await lf.sync.waitForPush({ timeout: 20_000 });
      await rm.store.set('after', 3);
      await rm.api!.subscription.fetch({ subscription_type: 'follow_user', followed_user: 1 }).catch((e: FeatError) => errors.push(e));
      await rm.api!.activity.commentCount({ target_type: 1 as never, meta: { node_id: 1 } }).catch((e: FeatError) => errors.push(e));
      await rm.api!.weixin.sign({ url: 'https://www.feat.com/x' }).catch((e: FeatError) => errors.push(e));
      const token = await rm.api!.accounts.couchToken();
      secrets.add(token.headers['X-Auth-CouchDB-Token']!);
      await Promise.all([lf.logout(), rm.close(), quiet.close()]);
    } finally {
      calls.push(...spies.flatMap((s) => s.mock.calls));
      spies.forEach((s) => s.mockRestore());
    }
    // 1. Proxy headers only below couchUrl; the app's bearer never to CouchDB; credentials never included.
    expect(rec.sent.length).toBeGreaterThan(20);
    const leaks = rec.sent.filter((s) => proxyHeaderNames(s.headers).length > 0 && !below(s.url, emu.couchUrl));
    expect(leaks.map((s) => s.url)).toEqual([]);
    const bearerToCouch = rec.sent.filter((s) => below(s.url, emu.couchUrl) && s.headers.has('authorization'));
    expect(bearerToCouch.map((s) => s.url)).toEqual([]);
    const followed = rec.sent.filter((s) => below(s.url, emu.couchUrl) && s.redirect !== 'manual');
    expect(followed.map((s) => s.url)).toEqual([]);
    const origins = [...new Set(rec.sent.map((s) => new URL(s.url).origin))];
    expect(rec.sent.some((s) => s.url.startsWith(emu.apiUrl)), `REST calls through the fetch option (origins seen: ${origins.join(', ')}; errors: ${errors.map((e) => e.code).join()})`).toBe(true);
    expect(rec.sent.some((s) => s.url.startsWith(emu.accountsUrl)), 'accounts calls through the fetch option').toBe(true);
    // 2. Nothing secret in anything printed, nor in error messages/URLs.
    const printed = calls.map((args) => args.map((a) => (a instanceof Error ? `${a.message} ${String((a as FeatError).url)}` : typeof a === 'string' ? a : JSON.stringify(a))).join(' '));
    expect(printed.length, 'something was printed (background failures without an error listener)').toBeGreaterThan(0);
    console.info(`[reliability] security: ${rec.sent.length} requests recorded, ${printed.length} console lines checked:\n  ${printed.slice(0, 8).join('\n  ')}`);
    const texts = [...printed, ...errors.map((e) => `${e.message} ${String(e.url)} ${JSON.stringify(e)}`)];
    for (const secret of secrets) {
      expect(secret.length).toBeGreaterThan(8);
      expect(texts.filter((t) => t.includes(secret))).toEqual([]);
    }
  }, 60_000);

  it('a redirect from couchUrl to another origin is not followed: the other origin receives nothing', async () => {
    const evil = await httpServer((_r, res) => res.end('{}'));
    const redirector = await httpServer((req, res) => {
      res.writeHead(307, { location: `${evil.url}${req.url}` });
      res.end();
    });
    try {
      const name = user();
      const token = emu.couchHeadersFor(name);
      const c = createFeatClient({ couchUrl: redirector.url, session: { dbName: 'userdb-x', headers: token }, mode: 'remote' });
      clients.push(c);
      await expect(c.ready()).rejects.toMatchObject({ code: expect.any(String) });
      await expect(c.store.set('k', 1)).rejects.toMatchObject({ code: expect.any(String) });
      expect(redirector.got.length).toBeGreaterThan(0);
      expect(evil.got).toEqual([]);
    } finally {
      await Promise.all([evil.close(), redirector.close()]);
    }
  });

  it('a redirect from apiUrl / accountsUrl to another origin never carries the bearer there', async () => {
    const evil = await httpServer((_r, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
    const redirector = await httpServer((req, res) => {
      res.writeHead(307, { location: `${evil.url}${req.url}` });
      res.end();
    });
    try {
      const name = user();
      const c = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: redirector.url, apiUrl: redirector.url, auth: emu.bearerFor(name), mode: 'remote' });
      clients.push(c);
      await c.ready().catch(() => undefined);
      await c.api!.weixin.sign({ url: 'https://www.feat.com/x' }).catch(() => undefined);
      await c.api!.subscription.fetch({ subscription_type: 'follow_user', followed_user: 1 }).catch(() => undefined);
      const bearer = emu.bearerFor(name);
      expect(evil.got.filter((r) => JSON.stringify(r.headers).includes(bearer.replace(/^Bearer /, '')))).toEqual([]);
      expect(evil.got.filter((r) => Object.keys(r.headers).some((h) => h.startsWith('x-auth-couchdb')))).toEqual([]);
    } finally {
      await Promise.all([evil.close(), redirector.close()]);
    }
  });
});

describe('logout({ destroyLocal: true }) leaves no user data behind', () => {
  it('leveldb: the replica directory is empty or gone, also with chunked values, query indexes and unpushed offline writes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'feat-sec-'));
    try {
      const name = user();
      const path = join(dir, 'replica');
      const c = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(name), local: { adapter: 'leveldb', name: path } });
      clients.push(c);
      await c.store.set('big', 'b'.repeat(1_600_000));
      await c.store.setParts('p', { a: { text: 'private', prio: 2 }, b: { text: 'words', prio: 1 } });
      // Query indexes live in databases of their own next to the replica (`replica-mrview-…`).
      expect(await c.store.find({ prefix: 'p', selector: { prio: { $gte: 1 } }, sort: ['prio'] })).toHaveLength(2);
      expect(readdirSync(dir).filter((f) => f.startsWith('replica-mrview-')).length).toBeGreaterThan(0);
      await c.sync.waitForPush({ timeout: 20_000 });
      c.sync.pause();
      await c.store.set('unpushed', 'private words');
      await c.logout({ destroyLocal: true });
      expect(existsSync(path) ? readdirSync(path) : []).toEqual([]);
      expect(readdirSync(dir).filter((f) => f !== 'replica')).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);

  it('memory: the replica is destroyed (re-opening its name finds nothing)', async () => {
    const name = user();
    const local = `feat-sec-memory-${name}`;
    const c = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(name), local: { adapter: 'memory', name: local } });
    clients.push(c);
    await c.store.set('k', 'private');
    await c.sync.waitForPush({ timeout: 10_000 });
    await c.logout({ destroyLocal: true });
    const { default: PouchDB } = await import('pouchdb-core');
    const { default: memory } = await import('pouchdb-adapter-memory' as string);
    PouchDB.plugin(memory as never);
    const db = new PouchDB(local, { adapter: 'memory' });
    const info = await db.info();
    expect(info.doc_count).toBe(0);
    await db.destroy();
  });
});

describe("the emulator's denial rules under a fuzzer", () => {
  it("another user's valid token never reads or changes a user's database or _users", async () => {
    const alice = user();
    const bob = user();
    const marker = `ALICE-SECRET-${Math.random().toString(36).slice(2)}`;
    const a = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(alice), mode: 'remote' });
    const b = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(bob), mode: 'remote' });
    clients.push(a, b);
    const { dbName: aliceDb } = await a.ready();
    const { dbName: bobDb } = await b.ready();
    await a.store.set('diary', marker);
    const snapshot = async () => JSON.stringify(await Promise.all((await a.store.keys()).map(async (k) => [k, await a.store.get(k)])));
    const before = await snapshot();
    const bobHeaders = emu.couchHeadersFor(bob);
    const target = fc.constantFrom(
      `/${aliceDb}`,
      `/${aliceDb}/`,
      `/${aliceDb}/diary`,
      `/${aliceDb}/_all_docs?include_docs=true`,
      `/${aliceDb}/_changes?include_docs=true`,
      `/${aliceDb}/_bulk_docs`,
      `/${aliceDb}/_bulk_get`,
      `/${aliceDb}/_find`,
      `/${aliceDb}/_security`,
      `/${aliceDb}/_design/x`,
      `/${aliceDb}/_local/x`,
      `/${aliceDb}/_revs_diff`,
      `/${aliceDb}/_compact`,
      `/${encodeURIComponent(aliceDb)}/diary`,
      `/${aliceDb.toUpperCase()}/diary`,
      `//${aliceDb}/diary`,
      `/${bobDb}/../${aliceDb}/diary`,
      `/${bobDb}/%2e%2e/${aliceDb}/diary`,
      `/${aliceDb}%2Fdiary`,
      `/_users`,
      `/_users/_all_docs?include_docs=true`,
      `/_users/_changes`,
      `/_users/org.couchdb.user:${alice}`,
      `/_users/org.couchdb.user%3A${alice}`,
      `/_users/create-new-user`,
      `/${aliceDb}/_users/org.couchdb.user:${bob}`,
      `/_all_dbs`,
      `/_replicate`,
      `/_node/_local/_config`,
      `/_session`,
      `/${bobDb}/_bulk_docs`,
    );
    const method = fc.constantFrom('GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'COPY', 'PATCH', 'OPTIONS');
    const extraHeaders = fc.subarray([
      ['X-Auth-CouchDB-Roles', '_admin'],
      ['X-Auth-CouchDB-UserName', alice],
      ['Authorization', `Basic ${Buffer.from('admin:admin').toString('base64')}`],
      ['X-Forwarded-For', '127.0.0.1'],
      ['Destination', `${aliceDb}/copy`],
      ['Content-Type', 'application/json'],
    ] as [string, string][]);
    const body = fc.constantFrom(
      undefined,
      '{}',
      JSON.stringify({ docs: [{ _id: 'diary', doc: 'owned' }] }),
      JSON.stringify({ docs: [{ id: 'diary' }] }),
      JSON.stringify({ _id: `org.couchdb.user:${alice}`, name: alice, roles: ['_admin'], type: 'user', password: 'x' }),
      JSON.stringify({ source: `${emu.couchUrl}/${aliceDb}`, target: `${emu.couchUrl}/${bobDb}` }),
      JSON.stringify({ selector: {} }),
      JSON.stringify({ admins: { names: [bob] }, members: { names: [bob] } }),
    );
    const violations: string[] = [];
    let requests = 0;
    await fc.assert(
      fc.asyncProperty(target, method, extraHeaders, body, async (path, m, extra, payload) => {
        requests++;
        const headers: Record<string, string> = { ...bobHeaders, 'Content-Type': 'application/json' };
        for (const [k, v] of extra) headers[k] = v;
        const res = await fetch(`${emu.couchUrl}${path}`, { method: m, headers, ...(m === 'GET' || m === 'HEAD' || payload === undefined ? {} : { body: payload }), redirect: 'manual' });
        const text = await res.text();
        const decoded = decodeURIComponent(path.replace(/%(?![0-9a-f]{2})/gi, '%25')).toLowerCase();
        const aboutAlice = decoded.includes(aliceDb.toLowerCase()) && !decoded.startsWith(`/${bobDb}/_users/`) || decoded.includes(`user:${alice}`) || decoded.startsWith('/_users/_') || decoded === '/_users';
        if (text.includes(marker)) violations.push(`${m} ${path} ${JSON.stringify(extra)} → ${res.status} revealed alice's data`);
        if (aboutAlice && res.status >= 200 && res.status < 300 && !(m === 'OPTIONS')) violations.push(`${m} ${path} ${JSON.stringify(extra)} → ${res.status}`);
      }),
      { seed: SEED, numRuns: RUNS },
    );
    expect(await snapshot()).toBe(before);
    expect(violations.slice(0, 10)).toEqual([]);
    expect(requests).toBe(RUNS);
  }, 120_000);
});
