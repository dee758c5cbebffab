/**
 * Chunk garbage collection racing a big write that REUSES chunks. Chunks are content-addressed and a write sends only
 * those the database does not have: a device that writes content stored before (undo, restore, a copy) finds the chunks
 * a replaced value left behind still on the server and does not send them. When another device's collection deletes
 * those orphans (unreferenced past the grace) after the writer's presence check and before its manifest lands, the
 * manifest points at deleted chunks: the write resolved, and every read of the key then failed with `not_found`.
 *
 * The writer checks its chunks again once its manifest is stored (and writes back any deleted meanwhile) before the
 * write resolves; a collection reads the server's changes again after its deletion and restores the chunks a manifest
 * written meanwhile refers to (chunks.ts `keepChunks`, gc.ts `collectChunks`). A local-first writer is the control: its
 * pull writes back the chunks its replica still refers to (gc.ts `keepReferenced`). Either look may fail: the writer's
 * is tried again, then the write rejects saying that the value was stored; the collector's write-back is tried again,
 * then kept for the next run, which does it.
 */
import { describe, expect, it, vi } from 'vitest';
import { createFeatClient, isFeatError, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { expectCode, sleep, text, uniqueUser, useEmulator, waitFor } from '../support/backend.js';

const emu = useEmulator();
const MAXDOC = 100_000;

type Matcher = (url: string, method: string, body: string) => boolean;

/**
 * Holds a device's requests: `before` returns a promise to delay the request until it resolves — with a Response, the
 * request is answered with it instead of being sent; rejected, the request fails so.
 */
interface Hook {
  before?: ((url: string, method: string, body: string) => Promise<Response | void> | undefined) | undefined;
}

function makeFetch(h: Hook): typeof fetch {
  return async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const method = (init?.method ?? (typeof input === 'object' && 'method' in input ? input.method : 'GET')).toUpperCase();
    const body = typeof init?.body === 'string' ? init.body : '';
    const held = await h.before?.(url, method, body);
    if (held instanceof Response) return held;
    return globalThis.fetch(input, init);
  };
}

function device(user: string, mode: 'local-first' | 'remote', options: Partial<FeatClientOptions> = {}): FeatClient & { hook: Hook } {
  const hook: Hook = {};
  const c = emu.track(
    createFeatClient({
      couchUrl: emu.couchUrl,
      accountsUrl: emu.accountsUrl,
      auth: emu.bearerFor(user),
      mode,
      local: { adapter: 'memory' },
      maxDocumentBytes: MAXDOC,
      maintenance: { enabled: false },
      fetch: makeFetch(hook),
      ...options,
    } as FeatClientOptions),
  ) as FeatClient & { hook: Hook };
  c.hook = hook;
  return c;
}

const describeValue = (c: FeatClient, key: string) =>
  c.store.get<string>(key).then(
    (v) => (typeof v === 'string' ? `len ${v.length}` : String(v)),
    (e: { code?: string }) => `rejected ${e.code}`,
  );

/** A gate: `hold` is what a hook returns to delay a request, `release` lets it go. */
function gate(): { hold: Promise<void>; release: () => void } {
  let release!: () => void;
  const hold = new Promise<void>((r) => (release = r));
  return { hold, release };
}

/** The `_bulk_docs` that carries the manifest of `key` (not its chunks). */
const isManifest = (key: string): Matcher => (url, method, body) =>
  method === 'POST' && /_bulk_docs/.test(url) && body.includes(`"${key}"`) && body.includes('"chunks"');

/** The collection's `_bulk_docs` of chunk deletions. */
const isGcDelete = (url: string, method: string, body: string) => method === 'POST' && /_bulk_docs/.test(url) && body.includes('feat~chunk~') && body.includes('"_deleted":true');

/** A chunk's `_bulk_docs` (chunks carry `data`; deletions and manifests do not). */
const isChunkWrite: Matcher = (url, method, body) => method === 'POST' && /_bulk_docs/.test(url) && body.includes('"data"');

/** A read of one revision of a chunk (a deleted one, to write it back). */
const isChunkRevRead: Matcher = (url, method) => method === 'GET' && /feat~chunk~[^/?]+\?(.*&)?rev=/.test(decodeURIComponent(url));

/** A look-up of documents by id (`_all_docs` with keys). */
const isLookUp: Matcher = (url, method) => method === 'POST' && /_all_docs/.test(url);

const unavailable = () => new Response(JSON.stringify({ error: 'service_unavailable', reason: 'test' }), { status: 503, headers: { 'Content-Type': 'application/json' } });

/** Holds the first request `matches` picks; `held()` says whether it was met. */
function holdFirst(c: FeatClient & { hook: Hook }, matches: Matcher) {
  const g = gate();
  let held = false;
  c.hook.before = (url, method, body) => {
    if (held || !matches(url, method, body)) return undefined;
    held = true;
    return g.hold;
  };
  return { held: () => held, release: g.release };
}

describe('a big write reusing orphaned chunks while another device collects them', () => {
  for (const writerMode of ['remote', 'local-first'] as const) {
    it(`${writerMode} writer: its manifest lands after the collection deleted the chunks it found present; the value stays readable`, async () => {
      const user = uniqueUser('gcreuse');
      const A = device(user, 'remote'); // collects
      const B = device(user, writerMode); // writes the same content again
      await Promise.all([A.ready(), B.ready()]);
      const V = text(300_000, 4242);
      // An old big value, replaced: its chunks are orphans on the server.
      await A.store.set('old', V);
      await A.store.set('old', 'small now');
      if (writerMode === 'local-first') await waitFor(async () => (await B.store.get('old')) === 'small now', 20_000, 'B to pull the replacement');
      // B writes V again under another key: its manifest's write is held until A's collection is done.
      const manifest = holdFirst(B, isManifest('copy'));
      const write = B.store.set('copy', V);
      // Local-first: the write lands in the replica; the push carries the manifest (held).
      if (writerMode === 'local-first') await write;
      await waitFor(manifest.held, 20_000, "B's manifest write to be held");
      const report = await A.maintenance.run({ chunkGraceMs: 0 });
      manifest.release();
      await write;
      if (writerMode === 'local-first') await B.sync.waitForPush({ timeout: 20_000 });
      await sleep(1_000);
      const fresh = device(user, 'remote');
      await fresh.ready();
      const seen = { A: await describeValue(A, 'copy'), B: await describeValue(B, 'copy'), fresh: await describeValue(fresh, 'copy') };
      const want = `len ${V.length}`;
      expect({ deleted: report.chunksDeleted > 0, ...seen }).toEqual({ deleted: true, A: want, B: want, fresh: want });
    }, 90_000);
  }

  it('remote writer: its manifest lands between the collection\'s look at the server\'s changes and its deletion, and it resolves before the deletion lands; the value stays readable', async () => {
    const user = uniqueUser('gcreuse3');
    const A = device(user, 'remote');
    const B = device(user, 'remote');
    await Promise.all([A.ready(), B.ready()]);
    const V = text(300_000, 99);
    await A.store.set('old', V);
    await A.store.set('old', 'small now');
    // B's manifest waits until A has looked at the changes and is about to delete; A's deletion waits for B's write.
    const manifest = holdFirst(B, isManifest('copy'));
    const write = B.store.set('copy', V);
    await waitFor(manifest.held, 20_000, "B's manifest write to be held");
    const deletion = holdFirst(A, isGcDelete);
    const run = A.maintenance.run({ chunkGraceMs: 0 });
    await waitFor(deletion.held, 20_000, "A's chunk deletion to be held");
    manifest.release();
    await write; // its check of the chunks finds them all there
    deletion.release();
    await run;
    const fresh = device(user, 'remote');
    await fresh.ready();
    expect({ B: await describeValue(B, 'copy'), fresh: await describeValue(fresh, 'copy') }).toEqual({ B: `len ${V.length}`, fresh: `len ${V.length}` });
  }, 90_000);
});

describe('the default grace period (no chunkGraceMs): chunks orphaned for more than 10 minutes', () => {
  it('a remote write of content stored long ago (undo, restore) while a scheduled run collects: the value stays readable', async () => {
    const user = uniqueUser('gcreuse2');
    const A = device(user, 'remote');
    const B = device(user, 'remote');
    await Promise.all([A.ready(), B.ready()]);
    const V = text(300_000, 777);
    await A.store.set('doc', V);
    await A.store.set('doc', 'small now');
    // First run: the orphans are found and marked (the 10 minutes' grace starts).
    expect((await A.maintenance.run()).chunksDeleted).toBe(0);
    // The user restores the old content (same text → same chunk ids, found present, not sent again).
    const manifest = holdFirst(B, isManifest('restored'));
    const write = B.store.set('restored', V);
    await waitFor(manifest.held, 20_000, "B's manifest write to be held");
    // 11 minutes later (for A's clock): the second run deletes the orphans.
    const now = Date.now.bind(Date);
    const later = vi.spyOn(Date, 'now').mockImplementation(() => now() + 11 * 60_000);
    let deleted: number;
    try {
      deleted = (await A.maintenance.run()).chunksDeleted;
    } finally {
      later.mockRestore();
    }
    manifest.release();
    await write;
    const fresh = device(user, 'remote');
    await fresh.ready();
    expect({ deleted: deleted > 0, fresh: await describeValue(fresh, 'restored') }).toEqual({ deleted: true, fresh: `len ${V.length}` });
  }, 90_000);
});

describe('a collection that cannot write back the chunks a value written meanwhile uses', () => {
  /**
   * B's manifest of `copy` (old content: its chunks found present, not sent) lands while A's deletion of them is held;
   * B's check of its chunks finds them still there. Once the deletion lands, A's look at the changes finds the manifest
   * and writes the chunks back — and `fails` (a 503, transport resends included) picks what of that fails, `times`
   * requests in all.
   */
  async function race(fails: Matcher, times: number, keepOther = true) {
    const user = uniqueUser('gcback');
    const A = device(user, 'remote');
    const B = device(user, 'remote');
    await Promise.all([A.ready(), B.ready()]);
    const V = text(300_000, 5150);
    // A big value that stays (the chunks owed are not the database's last ones: see the last test).
    if (keepOther) await A.store.set('other', text(300_000, 6160));
    await A.store.set('old', V);
    await A.store.set('old', 'small now');
    const manifest = holdFirst(B, isManifest('copy'));
    const write = B.store.set('copy', V);
    await waitFor(manifest.held, 20_000, "B's manifest write to be held");
    const deletion = gate();
    let deleting = false;
    let deleted = false;
    let failed = 0;
    A.hook.before = (url, method, body) => {
      if (!deleting && isGcDelete(url, method, body)) {
        deleting = true;
        return deletion.hold.then(() => void (deleted = true));
      }
      if (deleted && failed < times && fails(url, method, body)) {
        failed++;
        return Promise.resolve(unavailable());
      }
      return undefined;
    };
    const run = A.maintenance.run({ chunkGraceMs: 0 });
    run.catch(() => undefined);
    await waitFor(() => deleting, 20_000, "A's chunk deletion to be held");
    manifest.release();
    await write; // its check finds the chunks there: the deletion has not landed
    deletion.release();
    return { user, A, V, run, failed: () => failed };
  }

  const fresh = async (user: string) => {
    const c = device(user, 'remote');
    await c.ready();
    return describeValue(c, 'copy');
  };

  it('its write fails for a moment: written back within the run, the value stays readable', async () => {
    const { user, V, run, failed } = await race(isChunkWrite, 3);
    await run;
    expect({ failed: failed(), fresh: await fresh(user) }).toEqual({ failed: 3, fresh: `len ${V.length}` });
  }, 90_000);

  for (const [what, fails] of [
    ['its write', isChunkWrite],
    ['its read of the deleted revision', isChunkRevRead],
  ] as const) {
    it(`${what} fails for the whole run: the run says which value and that the next run writes them back, which it does`, async () => {
      const { user, A, V, run } = await race(fails, Infinity);
      const error = await expectCode(run, 'server');
      expect(error.message).toMatch(/used by "copy", could not be written back \(.*\): the next maintenance run tries again$/);
      expect(error.key).toBe('copy');
      A.hook.before = undefined;
      await A.maintenance.run({ chunkGraceMs: 0 });
      expect(await fresh(user)).toBe(`len ${V.length}`);
      // Written back: no longer owed, the next run has nothing to do with them.
      await A.maintenance.run({ chunkGraceMs: 0 });
      expect(await fresh(user)).toBe(`len ${V.length}`);
    }, 90_000);
  }
  it('the chunks owed were the last ones in the database: the next run still writes them back', async () => {
    const { user, A, V, run } = await race(isChunkWrite, Infinity, false);
    await expectCode(run, 'server');
    A.hook.before = undefined;
    await A.maintenance.run({ chunkGraceMs: 0 });
    expect(await fresh(user)).toBe(`len ${V.length}`);
  }, 90_000);
});

describe("a remote big write whose check of its chunks, once its manifest is stored, fails or is slow", () => {
  /** Fails (or delays) B's look-ups of ids once the manifest of `k` was sent, `times` of them. */
  function after(B: FeatClient & { hook: Hook }, times: number, answer: () => Promise<Response | void>) {
    let sent = false;
    let n = 0;
    B.hook.before = (url, method, body) => {
      if (isManifest('k')(url, method, body)) sent = true;
      else if (sent && n < times && isLookUp(url, method, body)) {
        n++;
        return answer();
      }
      return undefined;
    };
    return () => n;
  }

  const readBy = async (user: string) => {
    const c = device(user, 'remote');
    await c.ready();
    return describeValue(c, 'k');
  };

  it('a connection that fails for a moment: the check is tried again, the write resolves', async () => {
    const user = uniqueUser('keep1');
    const B = device(user, 'remote');
    await B.ready();
    // Two: the transport's own second try on a fresh connection fails too.
    const failed = after(B, 2, () => Promise.reject(new TypeError('fetch failed')));
    const V = text(300_000, 11);
    await B.store.set('k', V);
    expect({ failed: failed(), read: await readBy(user) }).toEqual({ failed: 2, read: `len ${V.length}` });
  }, 60_000);

  it('a connection that fails for good: the write rejects saying that the value was stored and to write it again', async () => {
    const user = uniqueUser('keep2');
    const B = device(user, 'remote');
    await B.ready();
    after(B, Infinity, () => Promise.reject(new TypeError('fetch failed')));
    const V = text(300_000, 12);
    const error = await expectCode(B.store.set('k', V), 'network');
    expect(error.message).toBe('The value of "k" was stored, but whether its chunks are all on the server could not be checked: write it again');
    expect(isFeatError(error.cause, 'network')).toBe(true);
    expect(await readBy(user)).toBe(`len ${V.length}`);
  }, 60_000);

  it('a server slower than 30 s (requestTimeout 2 min): the check waits for it, as any request does (no IndexedDB timeout)', async () => {
    const user = uniqueUser('keep3');
    const B = device(user, 'remote', { requestTimeout: 120_000 });
    await B.ready();
    const slow = after(B, Infinity, () => sleep(33_000));
    const V = text(300_000, 13);
    await B.store.set('k', V);
    expect({ lookUps: slow(), read: await readBy(user) }).toEqual({ lookUps: 1, read: `len ${V.length}` });
  }, 90_000);
});
