/**
 * Server misbehaviour (issue 9): truncated responses, HTML error pages, slow responses, connection resets in the middle
 * of `_bulk_docs`, a 500 from the accounts service. Faults are injected by the client's `fetch` option (real HTTP to the
 * emulator otherwise). Each fault must map to a documented code, be retried or surfaced as documented, and lose
 * nothing: every acknowledged write is readable by a fresh device once the fault clears.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createFeatClient, isFeatError, type FeatClient, type FeatClientOptions, type FeatError } from '@feat/sdk';
import { createFeatApi } from '@feat/sdk/api';
import { startEmulator, type Emulator } from '@feat/emulator';

let emu: Emulator;
const clients: FeatClient[] = [];
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled);
  emu = await startEmulator({ port: 0, peruserDelayMs: 0 });
});
afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  await emu?.stop();
  process.off('unhandledRejection', onUnhandled);
  expect(unhandled).toEqual([]);
});

let n = 0;
const user = () => `fault-${process.pid}-${n++}-${Math.random().toString(36).slice(2, 8)}`;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

type Fault = 'reset-before' | 'reset-after' | 'truncate' | 'html502' | 'html502-after' | 'slow' | 'status500';
interface Req {
  url: string;
  method: string;
  body: string | undefined;
}
/** A fetch that applies `rule` to each request (undefined: pass through). */
function faulty(rule: (req: Req) => Fault | undefined, slowMs = 1_500) {
  const seen = { faults: 0 };
  const f: typeof fetch = async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const req: Req = { url, method: (init?.method ?? 'GET').toUpperCase(), body: typeof init?.body === 'string' ? init.body : undefined };
    const fault = rule(req);
    if (!fault) return fetch(input, init);
    seen.faults++;
    switch (fault) {
      case 'reset-before':
        throw new TypeError('fetch failed', { cause: Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }) });
      case 'reset-after': {
        // The request reaches the server (and is applied); the connection dies before the answer arrives.
        const r = await fetch(input, init);
        await r.arrayBuffer();
        throw new TypeError('fetch failed', { cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }) });
      }
      case 'truncate': {
        const r = await fetch(input, init);
        const text = await r.text();
        return new Response(text.slice(0, Math.max(1, Math.floor(text.length / 2))), { status: r.status, headers: { 'content-type': 'application/json' } });
      }
      case 'html502':
        return new Response('<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>', { status: 502, headers: { 'content-type': 'text/html' } });
      case 'html502-after': {
        const r = await fetch(input, init);
        await r.arrayBuffer();
        return new Response('<html><head><title>502 Bad Gateway</title></head></html>', { status: 502, headers: { 'content-type': 'text/html' } });
      }
      case 'status500':
        return new Response(JSON.stringify({ detail: 'internal error' }), { status: 500, headers: { 'content-type': 'application/json' } });
      case 'slow':
        await sleep(slowMs);
        return fetch(input, init);
    }
  };
  return { fetch: f, seen };
}

function client(name: string, extra: Partial<FeatClientOptions> = {}): FeatClient {
  const c = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(name), local: { adapter: 'memory' }, ...extra });
  clients.push(c);
  return c;
}

/** What a fresh device (remote mode, no faults) reads for `keys`. */
async function serverValues(name: string, keys: string[]): Promise<Record<string, unknown>> {
  const observer = client(name, { mode: 'remote' });
  const out: Record<string, unknown> = {};
  for (const k of keys) out[k] = await observer.store.get(k);
  await observer.close();
  return out;
}

const isBulk = (r: Req) => r.method === 'POST' && /\/_bulk_docs$/.test(r.url.split('?')[0]!);
const once = (pred: (r: Req) => boolean, fault: Fault, times = 1) => {
  let left = times;
  return (r: Req): Fault | undefined => (left > 0 && pred(r) ? (left--, fault) : undefined);
};

describe('remote mode: each fault → a documented code; acknowledged writes survive', () => {
  it('connection reset before _bulk_docs is sent, once → retried transparently on a fresh connection', async () => {
    const name = user();
    const { fetch: f, seen } = faulty(once(isBulk, 'reset-before'));
    const c = client(name, { mode: 'remote', fetch: f });
    await c.store.set('k', 'v1');
    expect(seen.faults).toBe(1);
    expect(await serverValues(name, ['k'])).toEqual({ k: 'v1' });
  });

  it('connection reset after _bulk_docs was applied, once → the retry meets its own write: resolves, value stored once', async () => {
    const name = user();
    const { fetch: f } = faulty(once(isBulk, 'reset-after'));
    const c = client(name, { mode: 'remote', fetch: f });
    await c.store.set('k', 'v1');
    await c.store.set('k', 'v2'); // the revision cache must not be confused by the repeated write
    expect(await serverValues(name, ['k'])).toEqual({ k: 'v2' });
  });

  it('connection reset after _bulk_docs was applied, twice → network; the write may have landed; the next write wins', async () => {
    const name = user();
    let armed = false;
    const rule = once((r) => armed && isBulk(r), 'reset-after', 2);
    const { fetch: f } = faulty(rule);
    const c = client(name, { mode: 'remote', fetch: f });
    await c.store.set('base', 1);
    armed = true;
    const error = await c.store.set('k', 'v1').then(() => undefined, (e: FeatError) => e);
    expect(error?.code).toBe('network');
    await c.store.set('k', 'v2');
    expect(await serverValues(name, ['base', 'k'])).toEqual({ base: 1, k: 'v2' });
  });

  it('truncated _bulk_docs answer → bad_response (not reported as done); a retry stores the value', async () => {
    const name = user();
    const { fetch: f } = faulty(once(isBulk, 'truncate'));
    const c = client(name, { mode: 'remote', fetch: f });
    await c.ready();
    const error = await c.store.set('k', 'v1').then(() => undefined, (e: FeatError) => e);
    expect(error?.code).toBe('bad_response');
    await c.store.set('k', 'v1');
    expect(await serverValues(name, ['k'])).toEqual({ k: 'v1' });
  });

  it("a proxy's HTML 502 on _bulk_docs (again on both resends) → server, with the status; nothing half-written", async () => {
    const name = user();
    const { fetch: f } = faulty(once(isBulk, 'html502', 3));
    const c = client(name, { mode: 'remote', fetch: f });
    await c.ready();
    const error = await c.store.setParts('p', { a: 1, b: 2 }).then(() => undefined, (e: FeatError) => e);
    expect(error).toMatchObject({ code: 'server', status: 502 });
    expect(await serverValues(name, ['p:a', 'p:b'])).toEqual({ 'p:a': undefined, 'p:b': undefined });
    await c.store.setParts('p', { a: 1, b: 2 });
    expect(await serverValues(name, ['p:a', 'p:b'])).toEqual({ 'p:a': 1, 'p:b': 2 });
  });

  it('issue 20: a 502 after _bulk_docs was applied (a node dying behind nginx) → resent; its 409 meets its own revision: resolves, stored once', async () => {
    const name = user();
    const { fetch: f, seen } = faulty(once(isBulk, 'html502-after'));
    const c = client(name, { mode: 'remote', fetch: f });
    await c.ready();
    const conflicts: unknown[] = [];
    c.sync.on('conflict', (e) => conflicts.push(e));
    await c.store.set('k', 'v1');
    expect(seen.faults).toBe(1);
    await c.store.set('k', 'v2');
    expect(await serverValues(name, ['k'])).toEqual({ k: 'v2' });
  });

  it('truncated / HTML answers on reads → bad_response / server; the value is intact afterwards', async () => {
    const name = user();
    let mode: Fault | undefined;
    const { fetch: f } = faulty((r) => (r.method === 'GET' && r.url.split('?')[0]!.endsWith('/k') ? mode : undefined));
    const c = client(name, { mode: 'remote', fetch: f });
    await c.store.set('k', { deep: ['v'] });
    mode = 'truncate';
    await expect(c.store.get('k')).rejects.toMatchObject({ code: 'bad_response' });
    mode = 'html502';
    await expect(c.store.get('k')).rejects.toMatchObject({ code: 'server', status: 502 });
    mode = undefined;
    expect(await c.store.get('k')).toEqual({ deep: ['v'] });
  });

  it('a 500 from the accounts service → ready() rejects with server; a later ready() succeeds', async () => {
    const name = user();
    let broken = true;
    const { fetch: f } = faulty((r) => (broken && r.url.includes('/couchdb/token/') ? 'status500' : undefined));
    const c = client(name, { mode: 'remote', fetch: f });
    await expect(c.ready()).rejects.toMatchObject({ code: 'server', status: 500 });
    broken = false;
    await expect(c.ready()).resolves.toMatchObject({ userName: name });
    await c.store.set('k', 1);
    expect(await serverValues(name, ['k'])).toEqual({ k: 1 });
  });

  it('a 500 from the accounts service during a token refresh → the write fails with a code; after recovery writes work', async () => {
    const name = user();
    let broken = false;
    const { fetch: f } = faulty((r) => (broken && r.url.includes('/couchdb/token/') ? 'status500' : undefined));
    const c = client(name, { mode: 'remote', fetch: f });
    await c.store.set('before', 1);
    broken = true;
    emu.rotateSecret();
    const error = await c.store.set('during', 1).then(() => undefined, (e: FeatError) => e);
    expect(isFeatError(error), String(error)).toBe(true);
    expect(['unauthorized', 'server']).toContain(error!.code);
    broken = false;
    // The refresh backoff (500 ms after a failed refresh) must not wedge the client.
    await sleep(600);
    await c.store.set('after', 1);
    expect(await serverValues(name, ['before', 'after'])).toEqual({ before: 1, after: 1 });
  });

  it('a slow server: waitForPush({ timeout }) → timeout, the write still lands; a REST call over its timeout → timeout', async () => {
    const name = user();
    const { fetch: f } = faulty(once(isBulk, 'slow'), 800);
    const c = client(name, { mode: 'remote', fetch: f });
    await c.ready();
    const write = c.store.set('k', 'slow');
    await expect(c.sync.waitForPush({ timeout: 100 })).rejects.toMatchObject({ code: 'timeout' });
    await write;
    expect(await serverValues(name, ['k'])).toEqual({ k: 'slow' });
    const api = createFeatApi({
      apiUrl: emu.apiUrl,
      auth: emu.bearerFor(name),
      retry: 0,
      fetch: (input, init) => faulty(() => 'slow', 800).fetch(input, init),
    });
    await expect(api.weixin.sign({ url: 'https://www.feat.com/x' }, { timeout: 100 })).rejects.toMatchObject({ code: 'timeout' });
  });
});

describe('local-first: faults under live sync are retried until the writes are on the server', () => {
  const cases: [string, (r: Req) => boolean, Fault, number][] = [
    ['truncated _bulk_docs answers', isBulk, 'truncate', 2],
    ['HTML 502 pages on _bulk_docs (after it was applied)', isBulk, 'html502-after', 2],
    ['connection resets after _bulk_docs was applied', isBulk, 'reset-after', 3],
    ['truncated _revs_diff answers', (r) => r.url.includes('/_revs_diff'), 'truncate', 2],
    ['truncated _changes answers (pull)', (r) => r.url.includes('/_changes'), 'truncate', 2],
    ['HTML 502 on _bulk_get (pull)', (r) => r.url.includes('/_bulk_get'), 'html502', 2],
  ];
  it.each(cases)('%s', async (_what, pred, fault, times) => {
    const name = user();
    const writer = client(name);
    const reader = client(name);
    await Promise.all([writer.ready(), reader.ready()]);
    // Faults start now, for the first `times` matching requests of the writer (push) — or the reader (pull).
    const injected = faulty(once(pred, fault, times));
    const a = client(name, { fetch: injected.fetch });
    const errors: FeatError[] = [];
    a.sync.on('error', (e) => errors.push(e));
    await a.ready();
    await a.store.set('k', { v: 1 });
    await a.store.setParts('p', { x: 'x'.repeat(2_000), y: 2 });
    await writer.store.set('from-writer', 'w');
    await writer.sync.waitForPush({ timeout: 20_000 });
    await a.sync.waitForPush({ timeout: 30_000 });
    expect(await serverValues(name, ['k', 'p:x', 'p:y'])).toEqual({ k: { v: 1 }, 'p:x': 'x'.repeat(2_000), 'p:y': 2 });
    // Pull faults: the value from the other device arrives anyway.
    const deadline = Date.now() + 20_000;
    while ((await a.store.get('from-writer')) !== 'w' && Date.now() < deadline) await sleep(100);
    expect(await a.store.get('from-writer')).toBe('w');
    for (const e of errors) expect(isFeatError(e), String(e)).toBe(true);
    if (injected.seen.faults > 0 && errors.length > 0) {
      expect(errors.every((e) => ['bad_response', 'server', 'network'].includes(e.code)), errors.map((e) => e.code).join()).toBe(true);
    }
  }, 60_000);
});

describe('issue 20: transient server states under live sync are retried, never misnamed', () => {
  it("412 nodedown on _changes and a cut mid-sync: no conflict, no bad_response (a cancelled request is not a failure)", async () => {
    const name = user();
    let nodedown = 3;
    let resets = 4;
    const f: typeof fetch = async (input, init) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      if (url.includes('/_changes') && nodedown > 0) {
        nodedown--;
        return new Response(JSON.stringify({ error: 'nodedown', reason: 'progress not possible' }), { status: 412, headers: { 'content-type': 'application/json' } });
      }
      if ((url.includes('/_changes') || url.includes('/_bulk_docs')) && resets > 0 && nodedown === 0) {
        resets--;
        throw new TypeError('fetch failed', { cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }) });
      }
      return fetch(input, init);
    };
    const a = client(name, { fetch: f });
    const errors: FeatError[] = [];
    a.sync.on('error', (e) => errors.push(e));
    await a.ready();
    const other = client(name);
    await other.ready();
    await other.store.set('from-other', 1);
    await a.store.set('k', 'v');
    await a.sync.waitForPush({ timeout: 30_000 });
    const deadline = Date.now() + 20_000;
    while ((await a.store.get('from-other')) !== 1 && Date.now() < deadline) await sleep(100);
    expect(await a.store.get('from-other')).toBe(1);
    const codes = errors.map((e) => e.code);
    expect(codes).not.toContain('conflict');
    expect(codes).not.toContain('bad_response');
    if (errors.some((e) => e.status === 412)) expect(errors.find((e) => e.status === 412)?.code).toBe('server');
  }, 60_000);
});

describe('issue 20: conflict retries back off with jitter', () => {
  it('3 devices hammering the same 8 keys in remote mode, with latency and secret rotations: 0 failed writes, all on the latest write', async () => {
    const { startFaultProxy } = await import('../support/fault-proxy.js');
    const proxy = await startFaultProxy(emu.couchUrl);
    // The real server's write latency (COUCHDB-FACTS.md: a PUT ~6–8 ms): every write is delayed on the way.
    proxy.fault(() => true, 'delay', { delayMs: 8 });
    try {
      const name = user();
      const devices = [0, 1, 2].map(() => client(name, { mode: 'remote', couchUrl: proxy.url }));
      await Promise.all(devices.map((d) => d.ready()));
      const keys = Array.from({ length: 8 }, (_, i) => `k${i}`);
      const rounds = 10;
      const failures: FeatError[] = [];
      let rotations = 0;
      const rotating = setInterval(() => {
        if (rotations++ < 3) emu.rotateSecret();
      }, 1_200);
      try {
        await Promise.all(
          devices.map(async (d, device) => {
            for (let round = 0; round < rounds; round++) {
              await Promise.all(keys.map((k) => d.store.set(k, { device, round }).catch((e: FeatError) => void failures.push(e))));
            }
          }),
        );
      } finally {
        clearInterval(rotating);
      }
      expect(failures.map((e) => `${e.code}: ${e.message}`)).toEqual([]);
      const reads = await Promise.all(devices.map((d) => Promise.all(keys.map((k) => d.store.get<{ round: number }>(k)))));
      expect(reads[1]).toEqual(reads[0]);
      expect(reads[2]).toEqual(reads[0]);
      for (const value of reads[0]!) expect(value?.round).toBe(rounds - 1);
    } finally {
      await proxy.close();
    }
  }, 120_000);
});

describe('issue 20: resolve-and-retry rounds are spaced by growing, random pauses', () => {
  it('a key that keeps changing: each round waits a random share of 25 ms × 2^round (capped at 1 s), then conflict', async () => {
    const name = user();
    const puts: number[] = [];
    const conflict = () => new Response(JSON.stringify({ error: 'conflict', reason: 'Document update conflict.' }), { status: 409, headers: { 'content-type': 'application/json' } });
    const f: typeof fetch = async (input, init) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      const path = new URL(url).pathname;
      if (init?.method === 'PUT' && path.endsWith('/busy')) {
        puts.push(Date.now());
        return conflict();
      }
      if (init?.method === 'POST' && path.endsWith('/_bulk_docs') && String(init.body).includes('"busy"')) {
        return new Response(JSON.stringify([{ id: 'busy', error: 'conflict', reason: 'Document update conflict.' }]), { status: 201, headers: { 'content-type': 'application/json' } });
      }
      return fetch(input, init);
    };
    const c = client(name, { mode: 'remote', fetch: f, conflictRetries: 8 });
    await c.ready();
    // The random share pinned at its top: the pauses become deterministic (the old code retried back to back).
    const random = vi.spyOn(Math, 'random').mockReturnValue(0.999);
    let error: FeatError | undefined;
    try {
      error = await c.store.set('busy', 1).then(() => undefined, (e: FeatError) => e);
    } finally {
      random.mockRestore();
    }
    expect(error?.code).toBe('conflict');
    expect(puts).toHaveLength(9);
    const gaps = puts.slice(1).map((t, i) => t - puts[i]!);
    const pauses = gaps.map((_, i) => Math.min(1_000, 25 * 2 ** (i + 1)) * 0.999);
    for (const [i, gap] of gaps.entries()) expect(gap, `gap before round ${i + 1}: ${gaps.join(', ')} ms`).toBeGreaterThanOrEqual(pauses[i]! - 2);
  }, 30_000);
});
