/* eslint-disable @typescript-eslint/no-explicit-any -- the SDK inside page.evaluate() is the page's, untyped */
/**
 * CORS, as a real frontend meets it: the app is served from its own origin (http://localhost:<port>, not the backend's
 * host:port) and talks to couchUrl / accountsUrl / apiUrl cross-origin, in real Chromium. Runs on the emulator and,
 * with FEAT_BACKEND=real, on CouchDB 3.4.3 + the deployment's nginx (same assertions: where a test states what the
 * real stack does, a failure on the emulator is a difference).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFeatClient } from '@feat/sdk';
import { startEmulator, type Emulator } from '@feat/emulator';
import { hasChromium, startHarness, warnIfNoChromium, type Harness } from '../support/chromium-harness.js';
import { APP_PAGE, type App } from '../attack/browser-page.js';

warnIfNoChromium('the CORS browser tests');
const ON_REAL = process.env.FEAT_BACKEND === 'real';
const app = () => self as unknown as App & { feat: any; client: any };

/** CouchDB 3.4.3's Access-Control-Expose-Headers as measured through the deployment's nginx (build.sh [cors]). */
const COUCH_EXPOSED = 'content-type, cache-control, accept-ranges, etag, server, x-couch-request-id, x-couch-update-newrev, x-couchdb-body-time';

describe.runIf(hasChromium)(`CORS from a separate app origin (${ON_REAL ? 'real' : 'emulator'})`, () => {
  let harness: Harness;
  let emu: Emulator;
  let appOrigin: string;
  const run = Date.now().toString(36);
  let n = 0;
  const userFor = (what: string) => `cors-${what}-${run}-${n++}`;

  beforeAll(async () => {
    harness = await startHarness({ '/': ['text/html', APP_PAGE] });
    emu = harness.emu;
    // Another host name than the backend's 127.0.0.1: a different origin by host and port, as a dev server is.
    appOrigin = harness.origin.replace('127.0.0.1', 'localhost');
  }, 90_000);
  afterAll(() => harness?.stop());

  /** A tab on the app origin; records CORS console errors, failed requests and every request URL path. */
  async function tab() {
    const ctx = await harness.newContext();
    const page = await ctx.newPage();
    const corsErrors: string[] = [];
    const failed: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => {
      if (/CORS|Access-Control/i.test(m.text())) corsErrors.push(m.text().slice(0, 300));
      if (process.env.CORS_DEBUG) console.log('[page]', m.text().slice(0, 300));
    });
    page.on('requestfailed', (r) => failed.push(`${r.method()} ${new URL(r.url()).pathname} ${r.failure()?.errorText}`));
    page.on('request', (r) => {
      const u = new URL(r.url());
      if (u.origin !== appOrigin) requests.push(`${r.method()} ${u.port === new URL(emu.couchUrl).port ? 'couch' : 'other'} ${u.pathname.replace(/userdb-[0-9a-f]+/, '{db}')}`);
    });
    await page.goto(`${appOrigin}/`);
    await page.waitForFunction(() => (self as unknown as { loaded?: boolean }).loaded === true, undefined, { timeout: 15_000 });
    return { page, corsErrors, failed, requests };
  }

  const opts = (user: string, extra: Record<string, unknown> = {}) => ({
    couchUrl: emu.couchUrl,
    accountsUrl: emu.accountsUrl,
    apiUrl: emu.apiUrl,
    auth: emu.bearerFor(user),
    maintenance: { enabled: false },
    ...extra,
  });

  it('remote mode: sign-up, get/set/setParts/getParts/keys/find/remove and REST calls all pass CORS', async () => {
    const { page, corsErrors, failed } = await tab();
    const out = await page.evaluate(async (o) => {
      const c = app().feat.createFeatClient(o);
      app().client = c;
      const r: Record<string, unknown> = {};
      const step = async (name: string, f: () => Promise<unknown>) => {
        try {
          r[name] = await f();
        } catch (e: any) {
          r[name] = `ERR ${e?.code} ${e?.message}`;
        }
      };
      await step('ready', async () => (await c.ready()).userName);
      await step('set', () => c.store.set('a', { n: 1, t: 'x' }));
      await step('set2', () => c.store.set('a', { n: 2, t: 'y' }));
      await step('get', () => c.store.get('a'));
      await step('setParts', () => c.store.setParts('p', { one: { v: 1 }, two: { v: 2 } }));
      await step('getParts', () => c.store.getParts('p'));
      await step('keys', () => c.store.keys());
      await step('find', () => c.store.find({ selector: { v: { $gt: 0 } }, sort: ['v'] }));
      await step('remove', () => c.store.remove('a'));
      await step('getAfterRemove', () => c.store.get('a'));
      await step('api.commentCount', () => c.api.activity.commentCount({ target_type: 1 }));
      await step('api.subscription', () => c.api.subscription.fetch({ subscription_type: 'follow_user', followed_user: 1 }));
      await step('api.weixin', () => c.api.weixin.sign({ url: 'https://example.com/' }));
      await step('close', () => c.close());
      return r;
    }, opts(userFor('remote'), { mode: 'remote' }));
    expect(out.ready).toMatch(/^cors-remote/);
    expect(out.get).toEqual({ n: 2, t: 'y' });
    expect(out.getParts).toEqual({ one: { v: 1 }, two: { v: 2 } });
    expect(out.getAfterRemove).toBeUndefined();
    for (const k of ['set', 'set2', 'setParts', 'keys', 'find', 'remove', 'api.commentCount', 'api.subscription', 'api.weixin', 'close'])
      expect(String(out[k]), k).not.toMatch(/^ERR/);
    expect(corsErrors).toEqual([]);
    // Chromium reports a response whose body the SDK did not read as net::ERR_ABORTED (seen on the real stack): not CORS.
    expect(failed.filter((f) => !/ERR_ABORTED/.test(f))).toEqual([]);
  }, 120_000);

  it('local-first: bootstrap pull, push, live long-poll of another device’s write, find — all pass CORS', async () => {
    const user = userFor('lf');
    // Another device writes first, so the first pull has something to fetch (_changes, _revs_diff/_bulk_get or _all_docs).
    const other = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote' });
    await other.store.set('seed', { v: 1 });
    await other.store.setParts('sp', { a: 1, b: 2 });
    const { page, corsErrors, failed, requests } = await tab();
    const out = await page.evaluate(async (o) => {
      const c = app().feat.createFeatClient(o);
      app().client = c;
      (self as any).events = [];
      c.store.watch({ prefix: '' }, (e: any) => (self as any).events.push(`${e.key}:${e.origin}`));
      const session = await c.ready();
      const seed = await c.store.get('seed');
      await c.store.set('mine', { v: 5 });
      await c.store.setParts('mp', { x: { v: 7 } });
      await c.sync.waitForPush({ timeout: 20_000 });
      const found = await c.store.find({ selector: { v: { $gte: 1 } }, sort: ['v'] });
      return { session: session.userName, seed, found: found.length, status: c.sync.status };
    }, opts(user, { mode: 'local-first', local: { adapter: 'idb', name: `cors-${run}` } }));
    // A write on the server after the browser is live: must arrive through the long-poll.
    await other.store.set('late', { v: 9 });
    await expect.poll(() => page.evaluate(() => (self as any).events.includes('late:remote')), { timeout: 20_000 }).toBe(true);
    expect(await other.store.get('mine')).toEqual({ v: 5 });
    await page.evaluate(() => app().client.close());
    await other.close();
    const uniq = [...new Set(requests)];
    expect(out.seed).toEqual({ v: 1 });
    expect(corsErrors).toEqual([]);
    // Abort of the long-poll at close() shows as net::ERR_ABORTED: that one is expected.
    expect(failed.filter((f) => !/ERR_ABORTED/.test(f))).toEqual([]);
    for (const kind of ['_changes', '_bulk_docs', '_revs_diff']) expect(uniq.some((r) => r.includes(kind)), kind).toBe(true);
  }, 120_000);

  // ---- Raw comparison (Node sends the Origin a browser would). Each expectation is what the real stack answered. ----
  const ORIGIN = 'http://localhost:5173';
  async function raw(url: string, init: RequestInit) {
    const r = await fetch(url, init);
    await r.arrayBuffer();
    const h: Record<string, string> = {};
    r.headers.forEach((v, k) => {
      if (k.startsWith('access-control-')) h[k] = v;
    });
    return { status: r.status, h };
  }
  const preflight = (method: string, headers?: string, origin = ORIGIN) => ({
    method: 'OPTIONS',
    headers: { Origin: origin, 'Access-Control-Request-Method': method, ...(headers === undefined ? {} : { 'Access-Control-Request-Headers': headers }) },
  });

  it('couchUrl preflights: granted for the SDK’s methods and headers, refused for others, as the real stack', async () => {
    const db = `${emu.couchUrl}/userdb-6e6f6e65`;
    const ok = await raw(`${db}/_bulk_docs`, preflight('POST', 'content-type,x-auth-couchdb-token,x-auth-couchdb-username'));
    expect(ok).toEqual({
      status: 204,
      h: {
        'access-control-allow-origin': ORIGIN,
        'access-control-allow-credentials': 'true',
        'access-control-allow-methods': 'GET, PUT, POST, HEAD, DELETE',
        'access-control-allow-headers': 'content-type,x-auth-couchdb-token,x-auth-couchdb-username',
        'access-control-max-age': '600',
      },
    });
    // A header outside [cors] headers: not a preflight → 401 with plain CORS headers, no Allow-Headers (browser refuses).
    const badHeader = await raw(`${db}/_bulk_docs`, preflight('POST', 'content-type,x-request-id'));
    expect(badHeader.status).toBe(401);
    expect(badHeader.h['access-control-allow-headers']).toBeUndefined();
    const patch = await raw(`${db}/doc`, preflight('PATCH', 'content-type'));
    expect(patch.status).toBe(401);
    expect(patch.h['access-control-allow-methods']).toBeUndefined();
    // Every origin is allowed by the deployment (origins = *), credentials true: `null` and a foreign site too.
    for (const o of ['null', 'https://evil.example']) {
      const any = await raw(`${db}/_changes`, preflight('GET', 'x-auth-couchdb-username', o));
      expect(any.status).toBe(204);
      expect(any.h['access-control-allow-origin']).toBe(o);
    }
  });

  it('couchUrl answers expose the same headers as the real stack (exact list)', async () => {
    const user = userFor('raw');
    const c = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote' });
    const session = await c.ready();
    await c.close();
    const token = await (await fetch(`${emu.accountsUrl}/couchdb/token/`, { headers: { Authorization: emu.bearerFor(user) } })).json();
    const H = { Origin: ORIGIN, 'Content-Type': 'application/json', ...token.data.headers };
    const put = await raw(`${emu.couchUrl}/${session.dbName}/d1`, { method: 'PUT', headers: H, body: '{"a":1}' });
    expect(put.status).toBe(201);
    expect(put.h['access-control-expose-headers']).toBe(COUCH_EXPOSED);
    const missing = await raw(`${emu.couchUrl}/${session.dbName}/nope`, { headers: H });
    expect(missing.status).toBe(404);
    expect(missing.h['access-control-allow-origin']).toBe(ORIGIN);
    const unauth = await raw(`${emu.couchUrl}/${session.dbName}`, { headers: { Origin: ORIGIN } });
    expect(unauth.status).toBe(401);
    expect(unauth.h['access-control-allow-origin']).toBe(ORIGIN);
  });

  it('proxy-level refusals (nginx 413 / 405) carry NO CORS headers on the real stack: the emulator must not be kinder', async () => {
    const user = userFor('nginx');
    const c = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote' });
    const session = await c.ready();
    await c.close();
    const token = await (await fetch(`${emu.accountsUrl}/couchdb/token/`, { headers: { Authorization: emu.bearerFor(user) } })).json();
    const H = { Origin: ORIGIN, 'Content-Type': 'application/json', ...token.data.headers };
    const big = await raw(`${emu.couchUrl}/${session.dbName}/_bulk_docs`, { method: 'POST', headers: H, body: JSON.stringify({ docs: [{ _id: 'x', a: 'y'.repeat(1_100_000) }] }) });
    const cnu = await raw(`${emu.couchUrl}/_users/create-new-user`, { method: 'GET', headers: H });
    const got = { big, cnu };
    expect(got).toEqual({ big: { status: 413, h: {} }, cnu: { status: 405, h: {} } });
  });

  it('a 413 from the proxy reaches the browser app as in Node (too_large / a split), not as an untyped network failure', async () => {
    // The proxy's limit is lower than the client's maxRequestBytes (a misconfigured app): README says a 413 anyway →
    // split smaller and retry; a single document that cannot pass → too_large.
    const small = await startEmulator({ port: 0, maxRequestBytes: 200_000 } as never);
    const settleCode = (p: Promise<unknown>) => p.then(() => 'resolved', (e: any) => `rejected ${e?.code}`);
    try {
      const o = { couchUrl: small.couchUrl, accountsUrl: small.accountsUrl, mode: 'remote', maxRequestBytes: 1_048_576, maintenance: { enabled: false }, requestTimeout: 10_000 };
      const node = createFeatClient({ ...o, auth: small.bearerFor(userFor('413n')) } as never);
      await node.ready();
      const inNode = {
        one: await settleCode(node.store.set('big', 'x'.repeat(400_000))),
        many: await settleCode(node.store.setParts('parts', Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`p${i}`, 'y'.repeat(60_000)])))),
      };
      await node.close();
      const { page } = await tab();
      const out = await page.evaluate(
        async (o) => {
          const c = app().feat.createFeatClient(o);
          app().client = c;
          await c.ready();
          const t0 = Date.now();
          const settle = (p: Promise<unknown>, ms: number): Promise<string> =>
            Promise.race([
              p.then(() => 'resolved', (e: any) => `rejected ${e?.code} ${e?.name}: ${e?.message}`),
              new Promise<string>((r) => setTimeout(() => r(`still waiting after ${ms} ms`), ms)),
            ]);
          const one = await settle(c.store.set('big', 'x'.repeat(400_000)), 30_000);
          const many = await settle(c.store.setParts('parts', Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`p${i}`, 'y'.repeat(60_000)]))), 30_000);
          return { one, many, ms: Date.now() - t0 };
        },
        { ...o, auth: small.bearerFor(userFor('413')) },
      );
      expect(inNode.many).toBe('resolved');
      expect(out.one.split(' ').slice(0, 2).join(' ')).toBe(inNode.one);
      expect(out.many).toBe(inNode.many);
    } finally {
      await small.stop();
    }
  }, 120_000);

  it('local-first push with a proxy limit below maxRequestBytes: replication in the browser gets through (split on 413) or reports it', async () => {
    const small = await startEmulator({ port: 0, maxRequestBytes: 200_000 } as never);
    try {
      const { page } = await tab();
      const out = await page.evaluate(
        async (o) => {
          const c = app().feat.createFeatClient(o);
          app().client = c;
          const errors: string[] = [];
          c.sync.on('error', (e: any) => errors.push(`${e.code}`));
          await c.ready();
          c.sync.pause();
          for (let i = 0; i < 6; i++) await c.store.set(`k${i}`, 'z'.repeat(60_000));
          c.sync.resume();
          const pushed = await c.sync.waitForPush({ timeout: 20_000 }).then(() => 'pushed', (e: any) => `rejected ${e?.code}: ${e?.message}`);
          return { pushed, status: c.sync.status, pending: await c.sync.pending(), errors: [...new Set(errors)] };
        },
        { couchUrl: small.couchUrl, accountsUrl: small.accountsUrl, auth: small.bearerFor(userFor('413lf')), mode: 'local-first', local: { adapter: 'idb', name: `cors413-${run}` }, maxRequestBytes: 1_048_576, maintenance: { enabled: false } },
      );
      expect(out.pushed).toBe('pushed');
    } finally {
      await small.stop();
    }
  }, 120_000);

  /** A server that answers everything without any CORS header (a backend that refuses the app's origin). */
  async function noCorsServer(handler?: (url: string) => [number, Record<string, string>, string], cors = false): Promise<{ url: string; server: Server; hits: string[] }> {
    const hits: string[] = [];
    const server = createServer((req, res) => {
      hits.push(`${req.method} ${req.url}`);
      if (cors && req.method === 'OPTIONS') {
        res.writeHead(204, {
          'access-control-allow-origin': String(req.headers.origin),
          'access-control-allow-methods': 'GET, PUT, POST, HEAD, DELETE',
          'access-control-allow-headers': String(req.headers['access-control-request-headers'] ?? ''),
        }).end();
        return;
      }
      const [status, headers, body] = handler?.(req.url ?? '') ?? [200, { 'content-type': 'application/json' }, '{"data":{"headers":{"X-Auth-CouchDB-UserName":"u","X-Auth-CouchDB-Token":"00"},"dbname":"userdb-75"}}'];
      res.writeHead(status, headers).end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, hits };
  }

  it('an accounts service that refuses the app origin (no CORS): ready() rejects with a typed error, a hint, in bounded time', async () => {
    const acc = await noCorsServer();
    try {
      const { page } = await tab();
      const out = await page.evaluate(async (o) => {
        const c = app().feat.createFeatClient(o);
        const t0 = Date.now();
        const r = await Promise.race([
          c.ready().then(
            () => 'resolved',
            (e: any) => ({ isFeat: app().feat.isFeatError(e), code: e?.code, name: e?.name, message: e?.message }),
          ),
          new Promise((res) => setTimeout(() => res('still waiting after 40000 ms'), 40_000)),
        ]);
        await c.close().catch(() => undefined);
        return { r, ms: Date.now() - t0 };
      }, { couchUrl: emu.couchUrl, accountsUrl: acc.url, auth: 'Bearer x', mode: 'remote', requestTimeout: 5_000 });
      expect(out.r).toMatchObject({ isFeat: true });
      // The browser cannot tell a CORS refusal from a dead server, but the message should not send the user to check
      // their connection only: it should name the other cause (the server refusing this origin).
      expect((out.r as { message: string }).message).toMatch(/CORS|cross-origin|origin/i);
      expect(out.ms).toBeLessThan(40_000);
    } finally {
      acc.server.close();
    }
  }, 90_000);

  it('a CouchDB that refuses the app origin (no CORS): ready() rejects with a typed error naming the cause, in bounded time', async () => {
    const couch = await noCorsServer(() => [200, { 'content-type': 'application/json' }, '{}']);
    try {
      const { page } = await tab();
      const out = await page.evaluate(async (o) => {
        const c = app().feat.createFeatClient(o);
        const t0 = Date.now();
        const r = await Promise.race([
          c.ready().then(
            () => 'resolved',
            (e: any) => ({ isFeat: app().feat.isFeatError(e), code: e?.code, name: e?.name, message: e?.message }),
          ),
          new Promise((res) => setTimeout(() => res('still waiting after 40000 ms'), 40_000)),
        ]);
        const status = c.sync.status;
        await c.close().catch(() => undefined);
        return { r, ms: Date.now() - t0, status };
      }, { couchUrl: couch.url, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(userFor('nocors')), mode: 'remote', requestTimeout: 5_000 });
      expect(out.r).toMatchObject({ isFeat: true });
      expect((out.r as { message: string }).message).toMatch(/CORS|cross-origin|origin/i);
      expect(out.ms).toBeLessThan(40_000);
    } finally {
      couch.server.close();
    }
  }, 90_000);

  it.each(['couch', 'accounts'] as const)('a %s URL that redirects (CORS granted): the browser app gets the same error code as Node', async (which) => {
    const target = await noCorsServer((url) => [301, { location: `http://127.0.0.1:1${url}`, 'access-control-allow-origin': '*' }, ''], true);
    try {
      const user = userFor('redir');
      const o = {
        couchUrl: which === 'couch' ? target.url : emu.couchUrl,
        accountsUrl: which === 'accounts' ? target.url : emu.accountsUrl,
        auth: emu.bearerFor(user),
        mode: 'remote',
        requestTimeout: 5_000,
      };
      const inNode = await (async () => {
        const c = createFeatClient(o as never);
        const r = await c.ready().then(
          () => 'resolved',
          (e: any) => ({ code: e?.code, message: e?.message }),
        );
        await c.close().catch(() => undefined);
        return r;
      })();
      const { page } = await tab();
      const inBrowser = await page.evaluate(async (o) => {
        const c = app().feat.createFeatClient(o);
        const r = await Promise.race([
          c.ready().then(
            () => 'resolved',
            (e: any) => ({ code: e?.code, message: e?.message }),
          ),
          new Promise((res) => setTimeout(() => res('still waiting after 40000 ms'), 40_000)),
        ]);
        await c.close().catch(() => undefined);
        return r;
      }, o);
      expect((inBrowser as { code: string }).code).toBe((inNode as { code: string }).code);
      expect((inBrowser as { message: string }).message).toMatch(/redirect/);
    } finally {
      target.server.close();
    }
  }, 90_000);
});
