/**
 * Chunk garbage collection racing other work: a local-first big write that reuses chunks just as the pull brings their
 * deletion (the chunk lock between the store's big writes and the pull's chunk deletions), and a collection whose read
 * of a conflicting leaf fails (the run fails instead of counting the leaf as referring to no chunk).
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { sleep, text, uniqueUser, useEmulator } from '../support/backend.js';

const emu = useEmulator();
const MAXDOC = 100_000;

interface Hook {
  /** return a promise to delay the request until it resolves; or 'fail' to reject */
  before?: ((url: string, init: RequestInit | undefined, body: string) => Promise<void> | 'fail' | undefined) | undefined;
  after?: ((url: string, body: string) => void) | undefined;
  offline: boolean;
  log: { method: string; url: string; body: string }[];
}

function hook(): Hook {
  return { offline: false, log: [] };
}

function makeFetch(h: Hook): typeof fetch {
  return async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const method = (init?.method ?? (typeof input === 'object' && 'method' in input ? input.method : 'GET')).toUpperCase();
    const body = typeof init?.body === 'string' ? init.body : '';
    h.log.push({ method, url, body });
    if (h.offline) throw new TypeError('fetch failed');
    const b = h.before?.(url, init, body);
    if (b === 'fail') throw new TypeError('fetch failed');
    if (b) await b;
    if (h.offline) throw new TypeError('fetch failed');
    const res = await globalThis.fetch(input, init);
    h.after?.(url, body);
    return res;
  };
}

function device(user: string, mode: 'local-first' | 'remote', h: Hook = hook(), extra: Partial<FeatClientOptions> = {}): FeatClient & { hook: Hook; errors: unknown[] } {
  const c = emu.track(
    createFeatClient({
      couchUrl: emu.couchUrl,
      accountsUrl: emu.accountsUrl,
      auth: emu.bearerFor(user),
      mode,
      local: { adapter: 'memory' },
      maxDocumentBytes: MAXDOC,
      maintenance: { enabled: false },
      fetch: makeFetch(h),
      ...extra,
    } as FeatClientOptions),
  ) as FeatClient & { hook: Hook; errors: unknown[] };
  c.hook = h;
  c.errors = [];
  c.sync.on('error', (e) => c.errors.push(e));
  return c;
}

async function read(c: FeatClient, key: string): Promise<string> {
  return c.store.get<unknown>(key).then(
    (v) => (typeof v === 'string' ? `len ${v.length}:${v.slice(0, 6)}` : String(JSON.stringify(v))),
    (e: { code?: string }) => `rejected ${e.code}`,
  );
}
const desc = (v: string | undefined) => (v === undefined ? 'undefined' : `len ${v.length}:${v.slice(0, 6)}`);

async function settle(devs: FeatClient[], ms = 1_000): Promise<void> {
  for (let i = 0; i < 2; i++) {
    await Promise.all(devs.map((d) => d.sync.waitForPush({ timeout: 20_000 }).catch(() => undefined)));
    await sleep(ms);
  }
}

const isGcDelete = (url: string, body: string) => /_bulk_docs/.test(url) && body.includes('feat~chunk~') && body.includes('"_deleted":true');


describe('a local-first device writes a value reusing chunks just as the pull brings their deletion', () => {
  it('a value written at offsets around the arrival of the deletion of its chunks stays readable, here and on the server', async () => {
    const user = uniqueUser('pullrace');
    const B = device(user, 'local-first');
    const A = device(user, 'remote');
    await Promise.all([A.ready(), B.ready()]);
    // fill B's replica so that keepReferenced's scan takes time
    await Promise.all(Array.from({ length: 400 }, (_, i) => A.store.set(`filler${i}`, { i, s: 'x'.repeat(200) })));
    await settle([B], 1_000);
        const bad: string[] = [];
    for (let d = 0; d <= 21; d += 3) {
      const V = text(200_000, 1000 + d);
      await A.store.set('old', V);
      await A.store.remove('old');
      await settle([B], 700);
      let fired = false;
      let setP: Promise<void> | undefined;
      // B writes the same content d ms after the server ANSWERED the GC's deletion (it has landed)
      A.hook.after = (url, body) => {
        if (!fired && isGcDelete(url, body)) {
          fired = true;
          setTimeout(() => (setP = B.store.set(`new${d}`, V)), d);
        }
      };
      await A.maintenance.run({ chunkGraceMs: 0 });
      await sleep(d + 20);
      await setP;
      await settle([B], 700);
      const g = await read(B, `new${d}`);
      if (g !== desc(V)) bad.push(`new${d}`);
    }
    await settle([B], 1_500);
    const fresh = device(user, 'remote');
    await fresh.ready();
    for (let d = 0; d <= 21; d += 3) {
      const g = await read(fresh, `new${d}`);
      if (g.startsWith('rejected')) bad.push(`fresh new${d} ${g}`);
    }
    expect(bad).toEqual([]);
  }, 180_000);
});

describe('a conflicting leaf that cannot be read during GC', () => {
  // The two cases are two users, each with its own devices and fetch hooks: they run side by side.
  for (const [closeB, failRead] of [[true, true], [true, false]] as const) it.concurrent(`the device that wrote the later leaf gone: a GC whose read of that leaf ${failRead ? 'fails deletes nothing of it' : 'works keeps it'}; the leaf wins everywhere`, async () => {
    const user = uniqueUser('leafread');
    const A = device(user, 'local-first');
    const B = device(user, 'local-first');
    await Promise.all([A.ready(), B.ready()]);
    await A.store.set('seed', 1);
    await settle([A, B], 500);
    A.sync.pause();
    B.sync.pause();
    await sleep(100);
    // A: two edits (longer revision path: CouchDB's winner), earlier. B: one edit, later (LWW winner).
    await A.store.set('k', text(200_000, 71));
    await A.store.set('k', text(200_000, 72));
    await sleep(30);
    const VB = text(200_000, 73);
    await B.store.set('k', VB);
    // B pushes but does not pull (so it does not resolve); A pushes and closes
    B.hook.before = (url) => (/_changes/.test(url) ? 'fail' : undefined);
    B.sync.resume();
    await B.sync.waitForPush({ timeout: 10_000 });
    if (closeB) await B.close();
    A.hook.before = (url) => (/_changes/.test(url) ? 'fail' : undefined);
    A.sync.resume();
    await A.sync.waitForPush({ timeout: 10_000 });
    await sleep(300);
    // G: remote GC device whose GET of a revision of k fails (a transient network error)
    const G = device(user, 'remote');
    await G.ready();
    if (failRead) G.hook.before = (url, init) => ((init?.method ?? 'GET') === 'GET' && /\/k\?/.test(url) && /rev=/.test(url) ? 'fail' : undefined);
    await G.maintenance.run({ chunkGraceMs: 0 }).catch(() => undefined); // a failed leaf read fails the run
    G.hook.before = undefined;
    A.hook.before = undefined;
    B.hook.before = undefined;
    await settle(closeB ? [A] : [A, B], 2_000);
    const fresh = device(user, 'remote');
    await fresh.ready();
    const got = { A: await read(A, 'k'), B: closeB ? desc(VB) : await read(B, 'k'), fresh: await read(fresh, 'k') };
    expect(got).toEqual({ A: desc(VB), B: desc(VB), fresh: desc(VB) });
  }, 60_000);
});
