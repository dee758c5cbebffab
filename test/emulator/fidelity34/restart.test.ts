/**
 * The emulator restarted on the same ports, with and without dataDir — raw `_changes` sequences and SDK
 * devices that keep syncing across the restart.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect } from 'vitest';
import { createFeatClient, type FeatClient } from '@feat/sdk';
import { startEmulator, type EmulatorOptions } from '@feat/emulator';
import { couch, signUp } from '../helpers.js';
import { uniqueUser, waitFor, sleep } from '../../support/backend.js';
import { emulatorOnly } from '../../support/target.js';

type Feed = { results: { seq: string; id: string }[]; last_seq: string; pending: number };
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function restartable(opts: EmulatorOptions & { keepData: boolean }) {
  const dir = mkdtempSync(path.join(tmpdir(), 'emuload-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const secret = 'e'.repeat(32);
  const { keepData, ...rest } = opts;
  let server = await startEmulator({ port: 0, secret, ...(keepData ? { dataDir: dir } : {}), ...rest });
  const ports = server.ports;
  cleanups.push(() => server.stop());
  return {
    server: () => server,
    async stop() {
      await server.stop();
    },
    async start() {
      server = await startEmulator({ port: ports.couch, accountsPort: ports.accounts, apiPort: ports.api, secret, ...(keepData ? { dataDir: dir } : {}), ...rest });
      return server;
    },
  };
}

for (const profile of ['emulator', 'couchdb'] as const) {
  describe(`raw _changes across a restart (${profile})`, () => {
    emulatorOnly('dataDir')('with dataDir: an old sequence is still a position; instance_start_time and the tag kept', async () => {
      const env = await restartable({ keepData: true, profile });
      const user = uniqueUser('rs');
      const db = await signUp(env.server(), user);
      for (const id of ['a', 'b']) await couch(env.server(), user, `/${db}/${id}`, { method: 'PUT', body: {} });
      const before = (await couch(env.server(), user, `/${db}/_changes`)).json as Feed;
      const info1 = (await couch(env.server(), user, `/${db}`)).json as { instance_start_time: string; update_seq: string };
      await env.stop();
      const s = await env.start();
      const info2 = (await couch(s, user, `/${db}`)).json as { instance_start_time: string; update_seq: string };
      expect(info2.instance_start_time).toBe(info1.instance_start_time);
      expect(info2.update_seq).toBe(info1.update_seq);
      await couch(s, user, `/${db}/c`, { method: 'PUT', body: {} });
      const after = (await couch(s, user, `/${db}/_changes?since=${encodeURIComponent(before.last_seq)}`)).json as Feed;
      expect(after.results.map((r) => r.id)).toEqual(['c']);
      const mid = (await couch(s, user, `/${db}/_changes?since=${encodeURIComponent(before.results[0]!.seq)}`)).json as Feed;
      expect(mid.results.map((r) => r.id)).toEqual(['b', 'c']);
    }, 60_000);

    emulatorOnly('restart in memory')('in memory: a sequence of the earlier instance reads the new one from the start', async () => {
      const env = await restartable({ keepData: false, profile });
      const user = uniqueUser('rm');
      const db = await signUp(env.server(), user);
      for (const id of ['a', 'b', 'c', 'd']) await couch(env.server(), user, `/${db}/${id}`, { method: 'PUT', body: {} });
      const before = (await couch(env.server(), user, `/${db}/_changes`)).json as Feed;
      await env.stop();
      const s = await env.start();
      await signUp(s, user);
      for (const id of ['n1', 'n2']) await couch(s, user, `/${db}/${id}`, { method: 'PUT', body: {} });
      const after = await couch(s, user, `/${db}/_changes?since=${encodeURIComponent(before.last_seq)}`);
      expect(after.status).toBe(200);
      expect((after.json as Feed).results.map((r) => r.id)).toEqual(['n1', 'n2']);
      // a long poll with the old sequence answers at once with the new database's changes
      const lp = await couch(s, user, `/${db}/_changes?feed=longpoll&timeout=5000&since=${encodeURIComponent(before.results[1]!.seq)}`);
      expect((lp.json as Feed).results.map((r) => r.id)).toEqual(['n1', 'n2']);
    }, 60_000);
  });
}

/** A fetch that records every CouchDB `_changes` request's `since` and feed. */
function recorder() {
  const changes: { since: string | null; feed: string | null }[] = [];
  const f: typeof fetch = async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.pathname.endsWith('/_changes')) changes.push({ since: url.searchParams.get('since'), feed: url.searchParams.get('feed') });
    return fetch(input as RequestInfo, init);
  };
  return { fetch: f, changes };
}

describe('SDK devices across an emulator restart with dataDir', () => {
  for (const profile of ['emulator', 'couchdb'] as const) {
    emulatorOnly('dataDir')(`(${profile}) keep syncing without reading everything again and without missing anything`, async () => {
      const env = await restartable({ keepData: true, profile });
      const user = uniqueUser('dev');
      const devices: { c: FeatClient; rec: ReturnType<typeof recorder> }[] = [];
      for (let i = 0; i < 3; i++) {
        const rec = recorder();
        const c = createFeatClient({
          couchUrl: env.server().couchUrl,
          accountsUrl: env.server().accountsUrl,
          auth: env.server().bearerFor(user),
          local: { adapter: 'memory', name: `emuload-${user}-${i}` },
          maintenance: { enabled: false },
          requestTimeout: 3_000,
          fetch: rec.fetch,
        } as Parameters<typeof createFeatClient>[0]);
        cleanups.push(() => c.close().catch(() => undefined));
        devices.push({ c, rec });
      }
      // Devices one by one (sign-up once).
      for (const d of devices) await d.c.ready();
      for (let i = 0; i < 60; i++) await devices[i % 3]!.c.store.set(`k${i}`, { i, by: i % 3 });
      for (const d of devices) await d.c.sync.waitForPush({ timeout: 20_000 });
      for (const d of devices) await waitFor(async () => (await d.c.store.keys('k')).length === 60, 20_000, 'every device has 60 keys');
      await sleep(500);
      const startAt = devices.map((d) => d.rec.changes.length);

      await env.stop();
      // Offline writes while the server is down.
      await devices[0]!.c.store.set('offline0', 'a');
      await devices[1]!.c.store.set('k1', { i: 1, by: 'edited offline' });
      await sleep(1_500);
      await env.start();

      await devices[2]!.c.store.set('after', 'c');
      const deadline = AbortSignal.timeout(40_000);
      for (const d of devices) await d.c.sync.waitForPush({ timeout: 40_000, signal: deadline });
      for (const [j, d] of devices.entries()) {
        await waitFor(
          async () => (await d.c.store.get('offline0')) === 'a' && (await d.c.store.get('after')) === 'c' && ((await d.c.store.get('k1')) as { by: unknown })?.by === 'edited offline',
          40_000,
          `device ${j} sees every write made across the restart`,
        );
      }
      const sinceZeroAfter = devices.map((d, j) => d.rec.changes.slice(startAt[j]).filter((x) => x.since === '0').length);
      expect(sinceZeroAfter).toEqual([0, 0, 0]);
      for (const d of devices) expect((await d.c.store.keys()).length).toBe(62);
    }, 150_000);
  }
});

describe('the emulator’s own bookkeeping is out of the user’s reach', () => {
  emulatorOnly('dataDir')('a user DELETE of _local/feat-emulator-created (an earlier emulator’s marker) changes nothing: after a restart an earlier sequence is still a position', async () => {
    const env = await restartable({ keepData: true });
    const user = uniqueUser('mk');
    const db = await signUp(env.server(), user);
    for (const id of ['a', 'b', 'c']) await couch(env.server(), user, `/${db}/${id}`, { method: 'PUT', body: {} });
    const before = (await couch(env.server(), user, `/${db}/_changes`)).json as Feed;
    // Real CouchDB: 404 {"error":"not_found","reason":"missing"} — there is no such document.
    await couch(env.server(), user, `/${db}/_local/feat-emulator-created`, { method: 'DELETE' });
    await env.stop();
    await sleep(1_100);
    const s = await env.start();
    const after = (await couch(s, user, `/${db}/_changes?since=${encodeURIComponent(before.last_seq)}`)).json as Feed;
    expect(after.results).toEqual([]);
  }, 60_000);
});

describe('stop and suspend with feeds open and writes waiting', () => {
  for (const how of ['stop', 'suspend'] as const) {
    emulatorOnly(how)(`${how}() during a long _changes read with writes queued: resolves, every request settles`, async () => {
      const env = await restartable({ keepData: true });
      const s = env.server();
      const user = uniqueUser('st');
      const db = await signUp(s, user);
      const { headers } = await (await import('../helpers.js')).tokenFor(s, user);
      const h = { ...headers, 'Content-Type': 'application/json' };
      const docs = Array.from({ length: 4000 }, (_, i) => ({ _id: `d${i}`, pad: 'q'.repeat(1000) }));
      for (let i = 0; i < docs.length; i += 500) await fetch(`${s.couchUrl}/${db}/_bulk_docs`, { method: 'POST', headers: h, body: JSON.stringify({ docs: docs.slice(i, i + 500) }) });
      const settle = (p: Promise<Response>) => p.then((r) => r.text().then(() => `ok ${r.status}`)).catch((e: Error) => `err ${e.name}`);
      const reqs: Promise<string>[] = [];
      reqs.push(settle(fetch(`${s.couchUrl}/${db}/_changes?since=0&include_docs=true`, { headers: h, signal: AbortSignal.timeout(20_000) })));
      reqs.push(settle(fetch(`${s.couchUrl}/${db}/_changes?feed=continuous&since=now&heartbeat=1000`, { headers: h, signal: AbortSignal.timeout(20_000) })));
      reqs.push(settle(fetch(`${s.couchUrl}/${db}/_changes?feed=longpoll&since=now`, { headers: h, signal: AbortSignal.timeout(20_000) })));
      await sleep(40);
      for (let i = 0; i < 5; i++) reqs.push(settle(fetch(`${s.couchUrl}/${db}/w${i}`, { method: 'PUT', headers: h, body: '{}', signal: AbortSignal.timeout(20_000) })));
      await sleep(20);
      await Promise.race([how === 'stop' ? s.stop() : s.suspend(), sleep(15_000).then(() => { throw new Error(`${how}() did not resolve in 15 s`); })]);
      const outcomes = await Promise.all(reqs);
      expect(outcomes.filter((o) => o === 'err TimeoutError')).toEqual([]);
      if (how === 'suspend') {
        await s.resume();
        // The queued writes: each stored or refused, and the database still answers
        const all = await fetch(`${s.couchUrl}/${db}/_changes?since=0&limit=1`, { headers: h, signal: AbortSignal.timeout(10_000) });
        expect(all.status).toBe(200);
        const w = await fetch(`${s.couchUrl}/${db}/after`, { method: 'PUT', headers: h, body: '{}', signal: AbortSignal.timeout(10_000) });
        expect(w.status).toBe(201);
      } else {
        const again = await env.start();
        await fetch(`${again.couchUrl}/${db}/_all_docs?limit=0`, { headers: h, signal: AbortSignal.timeout(10_000) });
      }
    }, 90_000);
  }
});

describe('SDK devices across an emulator restarted in memory (the dev loop: data gone, user gone)', () => {
  emulatorOnly('restart in memory')('a local-first device: its data goes back to the new server, another device’s new write comes down', async () => {
    const env = await restartable({ keepData: false });
    const user = uniqueUser('mem');
    const mk = (i: number) => {
      const rec = recorder();
      const c = createFeatClient({
        couchUrl: env.server().couchUrl,
        accountsUrl: env.server().accountsUrl,
        auth: env.server().bearerFor(user),
        local: { adapter: 'memory', name: `emuload-mem-${user}-${i}` },
        maintenance: { enabled: false },
        requestTimeout: 3_000,
        fetch: rec.fetch,
      } as Parameters<typeof createFeatClient>[0]);
      cleanups.push(() => c.close().catch(() => undefined));
      return c;
    };
    const a = mk(0);
    await a.ready();
    for (let i = 0; i < 5; i++) await a.store.set(`k${i}`, i);
    await a.sync.waitForPush({ timeout: 10_000 });
    await env.stop();
    await sleep(1_000);
    const s = await env.start();
    const statuses: string[] = [];
    a.sync.on('status', (st) => statuses.push(st));
    const errors: string[] = [];
    a.sync.on('error', (e) => errors.push(`${e.code}: ${e.message}`.slice(0, 120)));
    // Another device of the same user on the new server (signs the user up again).
    const b = mk(1);
    await b.ready();
    await b.store.set('fromB', 'b');
    await b.sync.waitForPush({ timeout: 10_000 });
    let ok = true;
    try {
      await waitFor(async () => (await a.store.get('fromB')) === 'b', 30_000, 'B’s write on A');
      await waitFor(async () => (await b.store.keys('k')).length === 5, 30_000, 'A’s data on B');
    } catch {
      ok = false;
    }
    expect(ok).toBe(true);
    void s;
  }, 90_000);
});

describe('a lone device across an emulator restarted in memory', () => {
  emulatorOnly('restart in memory')('signs the user up again and pushes its data (no other device to do it)', async () => {
    const env = await restartable({ keepData: false });
    const user = uniqueUser('lone');
    const a = createFeatClient({
      couchUrl: env.server().couchUrl,
      accountsUrl: env.server().accountsUrl,
      auth: env.server().bearerFor(user),
      local: { adapter: 'memory', name: `emuload-lone-${user}` },
      maintenance: { enabled: false },
      requestTimeout: 3_000,
    } as Parameters<typeof createFeatClient>[0]);
    cleanups.push(() => a.close().catch(() => undefined));
    const { dbName } = await a.ready();
    for (let i = 0; i < 3; i++) await a.store.set(`k${i}`, i);
    await a.sync.waitForPush({ timeout: 10_000 });
    await env.stop();
    await sleep(500);
    const s = await env.start();
    await a.store.set('after', 1);
    const errors: string[] = [];
    a.sync.on('error', (e) => errors.push(`${e.code}: ${e.message}`.slice(0, 160)));
    const statusOf = async () => (await couch(s, user, `/${dbName}/_all_docs`)).status;
    let ok = true;
    try {
      await waitFor(async () => (await statusOf()) === 200, 30_000, 'the user database again');
      await waitFor(async () => ((await couch(s, user, `/${dbName}/_all_docs`)).json as { rows: unknown[] }).rows.length >= 4, 30_000, 'the device’s data on the server');
    } catch {
      ok = false;
    }
    await a.sync.waitForPush({ timeout: 5_000 }).catch(() => undefined);
    expect(ok).toBe(true);
  }, 90_000);
});
