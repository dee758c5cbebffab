/**
 * Chunk garbage collection on one device must never leave another device's big value without its chunks: chunks are
 * content-addressed and shared, so a value written again (an undo), or edited offline on a device whose replica still
 * had the chunks, refers to chunks another device's collection deleted.
 */
import PouchDB from 'pouchdb-core';
import MemoryAdapter from 'pouchdb-adapter-memory';
import { describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { sleep, text, uniqueUser, useEmulator, waitFor } from '../support/backend.js';

const emu = useEmulator();
// Small documents: a value of 600 KB is a dozen chunks.
const V = text(600_000, 7);

function device(user: string, extra: Partial<FeatClientOptions> = {}): FeatClient {
  return emu.track(
    createFeatClient({
      couchUrl: emu.couchUrl,
      accountsUrl: emu.accountsUrl,
      auth: emu.bearerFor(user),
      mode: 'local-first',
      local: { adapter: 'memory' },
      maxDocumentBytes: 200_000,
      maintenance: { enabled: false },
      ...extra,
    } as FeatClientOptions),
  );
}

// A replica whose next write of chunk bodies alone (the pull keeping chunks alive) fails once, when armed.
type Callback = (error: unknown, result?: unknown) => void;
let failNextKeep = false;
if (!(PouchDB as unknown as { adapters: Record<string, unknown> }).adapters.memory) PouchDB.plugin(MemoryAdapter);
const Memory = (PouchDB as unknown as { adapters: Record<string, (this: unknown, o: unknown, cb: Callback) => void> }).adapters.memory!;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function FlakyDevice(this: Record<string, (...a: any[]) => unknown>, opts: unknown, callback: Callback) {
  Memory.call(this, opts, callback);
  const bulk = this._bulkDocs!;
  this._bulkDocs = (req: { docs: { _id: string; data?: unknown }[] }, o: { new_edits?: boolean }, cb: Callback) => {
    const keeping = o.new_edits !== false && req.docs.length > 0 && req.docs.every((d) => d._id.includes('chunk~') && typeof d.data === 'string');
    if (failNextKeep && keeping) {
      failNextKeep = false;
      return cb(Object.assign(new Error('injected write failure'), { status: 500, name: 'unknown_error' }));
    }
    return bulk.call(this, req, o, cb);
  };
}
FlakyDevice.valid = () => true;
FlakyDevice.use_prefix = false;
(PouchDB as unknown as { adapter(name: string, a: unknown, preferred: boolean): void }).adapter('flaky-keep', FlakyDevice, false);

const read = (c: FeatClient, key: string) =>
  c.store.get<string>(key).then(
    (v) => (typeof v === 'string' ? `len ${v.length}` : String(v)),
    (e: { code: string }) => `rejected ${e.code}`,
  );

describe('chunk garbage collection and other devices', () => {
  for (const mode of ['local-first', 'remote'] as const) {
    it(`a big value written again (${mode}) after another device collected its chunks is readable everywhere`, async () => {
      const user = uniqueUser('gc-undo');
      const a = device(user);
      const b = device(user, { mode });
      await Promise.all([a.ready(), b.ready()]);
      await b.store.set('big', V);
      await b.sync.waitForPush({ timeout: 20_000 });
      await waitFor(async () => (await a.store.get('big').catch(() => undefined)) === V, 20_000, 'A has the big value');
      await a.store.set('big', 'small now');
      await a.sync.waitForPush({ timeout: 20_000 });
      const report = await a.maintenance.run({ chunkGraceMs: 0 });
      expect(report.chunksDeleted).toBeGreaterThan(0);
      await a.sync.waitForPush({ timeout: 20_000 });
      await waitFor(async () => (await b.store.get('big')) === 'small now', 20_000, 'B sees the replacement');
      await sleep(500); // B's replica has pulled the chunk deletions too
      await b.store.set('big', V); // undo
      await b.sync.waitForPush({ timeout: 20_000 });
      const server = device(user, { mode: 'remote' });
      await waitFor(async () => (await read(a, 'big')) === `len ${V.length}`, 10_000, 'A reads it').catch(() => undefined);
      expect({ a: await read(a, 'big'), b: await read(b, 'big'), server: await read(server, 'big') }).toEqual({
        a: `len ${V.length}`,
        b: `len ${V.length}`,
        server: `len ${V.length}`,
      });
    }, 90_000);
  }

  it('a device offline longer than the grace reuses chunks another device collected: its values stay readable everywhere', async () => {
    const user = uniqueUser('gc-offline');
    const a = device(user);
    const b = device(user);
    await Promise.all([a.ready(), b.ready()]);
    await a.store.set('big', V);
    await a.sync.waitForPush({ timeout: 20_000 });
    await waitFor(async () => (await b.store.get('big').catch(() => undefined)) === V, 20_000, 'B has the big value');
    b.sync.pause();
    await a.store.set('big', 'small now');
    await a.sync.waitForPush({ timeout: 20_000 });
    await sleep(20);
    const edited = V + ' (appended offline on B)';
    await b.store.set('big', edited); // later than A's replacement; shares most chunks
    await b.store.set('copy', V); // shares every chunk
    expect((await a.maintenance.run({ chunkGraceMs: 0 })).chunksDeleted).toBeGreaterThan(0);
    await a.sync.waitForPush({ timeout: 20_000 });
    b.sync.resume();
    await b.sync.waitForPush({ timeout: 20_000 });
    const server = device(user, { mode: 'remote' });
    const all = async () => ({
      aBig: await read(a, 'big'),
      bBig: await read(b, 'big'),
      aCopy: await read(a, 'copy'),
      bCopy: await read(b, 'copy'),
      serverBig: await read(server, 'big'),
      serverCopy: await read(server, 'copy'),
    });
    const want = {
      aBig: `len ${edited.length}`,
      bBig: `len ${edited.length}`,
      aCopy: `len ${V.length}`,
      bCopy: `len ${V.length}`,
      serverBig: `len ${edited.length}`,
      serverCopy: `len ${V.length}`,
    };
    await waitFor(async () => JSON.stringify(await all()) === JSON.stringify(want), 30_000, 'every device reads both values').catch(() => undefined);
    expect(await all()).toEqual(want);
  }, 120_000);

  it('a device offline through a replacement and its collection does not bring the collected chunks back', async () => {
    const user = uniqueUser('gc-quiet');
    const a = device(user);
    const b = device(user);
    await Promise.all([a.ready(), b.ready()]);
    await a.store.set('big', V);
    await a.sync.waitForPush({ timeout: 20_000 });
    await waitFor(async () => (await b.store.get('big').catch(() => undefined)) === V, 20_000, 'B has the big value');
    b.sync.pause();
    await a.store.set('big', 'small now');
    await a.sync.waitForPush({ timeout: 20_000 });
    expect((await a.maintenance.run({ chunkGraceMs: 0 })).chunksDeleted).toBeGreaterThan(0);
    await a.sync.waitForPush({ timeout: 20_000 });
    b.sync.resume(); // pulls the replacement and the deletions, maybe in one batch
    await waitFor(async () => (await b.store.get('big')) === 'small now', 20_000, 'B sees the replacement');
    await b.sync.waitForPush({ timeout: 20_000 });
    await sleep(1_000);
    expect((await a.maintenance.run({ chunkGraceMs: 0 })).chunksDeleted).toBe(0);
    expect((await b.maintenance.run({ chunkGraceMs: 0 })).chunksDeleted).toBe(0);
  }, 90_000);

  it('keeping the chunks alive fails once during the pull: the pass is tried again and the value stays readable', async () => {
    const user = uniqueUser('gc-fail');
    const a = device(user);
    const b = device(user, { local: { adapter: 'flaky-keep' } });
    await Promise.all([a.ready(), b.ready()]);
    await a.store.set('big', V);
    await a.sync.waitForPush({ timeout: 20_000 });
    await waitFor(async () => (await b.store.get('big').catch(() => undefined)) === V, 20_000, 'B has the big value');
    b.sync.pause();
    await a.store.set('big', 'small now');
    await a.sync.waitForPush({ timeout: 20_000 });
    await b.store.set('copy', V); // offline on B: shares every chunk
    expect((await a.maintenance.run({ chunkGraceMs: 0 })).chunksDeleted).toBeGreaterThan(0);
    await a.sync.waitForPush({ timeout: 20_000 });
    failNextKeep = true;
    b.sync.resume();
    await waitFor(() => !failNextKeep, 20_000, 'the keep-alive write was tried');
    await b.sync.waitForPush({ timeout: 30_000 });
    const server = device(user, { mode: 'remote' });
    const all = async () => ({ bBig: await read(b, 'big'), bCopy: await read(b, 'copy'), serverCopy: await read(server, 'copy'), aCopy: await read(a, 'copy') });
    const want = { bBig: 'len 9', bCopy: `len ${V.length}`, serverCopy: `len ${V.length}`, aCopy: `len ${V.length}` };
    await waitFor(async () => JSON.stringify(await all()) === JSON.stringify(want), 30_000, 'every device reads the copy').catch(() => undefined);
    expect(await all()).toEqual(want);
  }, 120_000);
});
