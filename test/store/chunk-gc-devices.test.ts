/**
 * Chunk garbage collection on one device must never leave another device's big value without its chunks: chunks are
 * content-addressed and shared, so a value written again (an undo), or edited offline on a device whose replica still
 * had the chunks, refers to chunks another device's collection deleted.
 */
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
});
