/**
 * Chunk garbage collection racing a big write that REUSES chunks. Chunks are content-addressed and a write sends only
 * those the database does not have: a device that writes content stored before (undo, restore, a copy) finds the chunks
 * a replaced value left behind still on the server and does not send them. When another device's collection deletes
 * those orphans (unreferenced past the grace) after the writer's presence check and before its manifest lands, the
 * manifest points at deleted chunks: the write resolved, and every read of the key then failed with `not_found`.
 *
 * The writer checks its chunks again once its manifest is stored (and writes back any deleted meanwhile) before the
 * write resolves; a collection reads the server's changes again after its deletion and restores the chunks a manifest
 * written meanwhile refers to (store.ts `#keepChunks`, gc.ts `collectChunks`). A local-first writer is the control: its
 * pull writes back the chunks its replica still refers to (gc.ts `keepReferenced`).
 */
import { describe, expect, it, vi } from 'vitest';
import { createFeatClient, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { sleep, text, uniqueUser, useEmulator, waitFor } from '../support/backend.js';

const emu = useEmulator();
const MAXDOC = 100_000;

/** Holds a device's requests: `before` returns a promise to delay the request until it resolves. */
interface Hook {
  before?: ((url: string, method: string, body: string) => Promise<void> | undefined) | undefined;
}

function makeFetch(h: Hook): typeof fetch {
  return async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const method = (init?.method ?? (typeof input === 'object' && 'method' in input ? input.method : 'GET')).toUpperCase();
    const body = typeof init?.body === 'string' ? init.body : '';
    const held = h.before?.(url, method, body);
    if (held) await held;
    return globalThis.fetch(input, init);
  };
}

function device(user: string, mode: 'local-first' | 'remote'): FeatClient & { hook: Hook } {
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
const isManifest = (key: string) => (url: string, method: string, body: string) =>
  method === 'POST' && /_bulk_docs/.test(url) && body.includes(`"${key}"`) && body.includes('"chunks"');

/** The collection's `_bulk_docs` of chunk deletions. */
const isGcDelete = (url: string, method: string, body: string) => method === 'POST' && /_bulk_docs/.test(url) && body.includes('feat~chunk~') && body.includes('"_deleted":true');

/** Holds the first request `matches` picks; `held()` says whether it was met. */
function holdFirst(c: FeatClient & { hook: Hook }, matches: (url: string, method: string, body: string) => boolean) {
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
