/**
 * The proxy's request body limit (API.md): no request body the client sends exceeds `maxRequestBytes` (default
 * 1,048,576); `_bulk_docs` is split to fit; a 413 anyway (the proxy's HTML page) → split smaller and retry; a single
 * document that still cannot pass → `too_large` with its key. Real HTTP against the emulator's emulated nginx limit.
 */
import { describe, expect, it } from 'vitest';
import type { FeatClient, FeatClientOptions } from '@feat/sdk';
import { recorder, type Recorder, rejectsWith, uniqueName, useBackend, recordingClient } from '../session/harness.js';

const LIMIT = 1_048_576;
const { emu, clients } = useBackend({ emulator: { maxRequestBytes: LIMIT } });

function client(name: string, rec: Recorder, extra: Partial<FeatClientOptions> = {}): FeatClient {
  return recordingClient(clients, emu, name, rec, extra);
}

/** A ~size-byte string value, distinct per index. */
const blob = (i: number, size: number) => `${i}:`.padEnd(size, String.fromCharCode(97 + (i % 26)));

/** Emulator records of this test's database (by path), after `since`. */
const couchRecords = (dbName: string, since: number) =>
  emu.requests.filter((r) => r.service === 'couch' && r.path.startsWith(`/${dbName}/`) && r.at >= since);

describe('splitting _bulk_docs', () => {
  it('30 × 100 KB written at once (> 1 MiB in total) all succeed, and no request body exceeds 1 MiB', async () => {
    const name = uniqueName('split');
    const rec = recorder();
    const c = client(name, rec); // default maxRequestBytes
    const { dbName } = await c.ready();
    const since = Date.now();
    const values = Array.from({ length: 30 }, (_, i) => blob(i, 100_000));
    await Promise.all(values.map((v, i) => c.store.set(`doc${String(i).padStart(2, '0')}`, v)));

    const bulk = rec.to(emu.couchUrl).filter((call) => call.method === 'POST' && call.path.endsWith('/_bulk_docs'));
    const sent = bulk.reduce((sum, call) => sum + call.bodyBytes, 0);
    expect(sent).toBeGreaterThan(3_000_000); // all 3 MB went out
    expect(bulk.length).toBeGreaterThanOrEqual(3); // in several requests
    for (const call of rec.to(emu.couchUrl)) expect(call.bodyBytes, `${call.method} ${call.path}`).toBeLessThanOrEqual(LIMIT);
    // The server agrees: nothing over the limit arrived, nothing was refused.
    const seen = couchRecords(dbName, since);
    expect(seen.every((r) => r.bytesIn <= LIMIT)).toBe(true);
    expect(seen.some((r) => r.status === 413)).toBe(false);

    // Nothing lost: every value reads back exactly.
    const reader = client(name, recorder());
    await expect(reader.store.keys('doc')).resolves.toHaveLength(30);
    const back = await Promise.all(values.map((_, i) => reader.store.get(`doc${String(i).padStart(2, '0')}`)));
    expect(back).toEqual(values);
  });

  it('a client told there is no limit (maxRequestBytes 0) meets the proxy 413, splits and retries: all 30 succeed', async () => {
    const name = uniqueName('split413');
    const rec = recorder();
    const c = client(name, rec, { maxRequestBytes: 0 });
    const { dbName } = await c.ready();
    const since = Date.now();
    const values = Array.from({ length: 30 }, (_, i) => blob(i, 100_000));
    const results = await Promise.allSettled(values.map((v, i) => c.store.set(`doc${i}`, v)));
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    expect(couchRecords(dbName, since).some((r) => r.status === 413)).toBe(true);

    const reader = client(name, recorder());
    const back = await Promise.all(values.map((_, i) => reader.store.get(`doc${i}`)));
    expect(back).toEqual(values);
  });
});

describe('a document too large for one request', () => {
  it('the proxy HTML 413 (client limit 0) → too_large with the key; nothing is written', async () => {
    const name = uniqueName('html413');
    const rec = recorder();
    const c = client(name, rec, { maxRequestBytes: 0 });
    const { dbName } = await c.ready();
    const since = Date.now();
    const error = await rejectsWith(c.store.set('big', 'x'.repeat(1_500_000)), 'too_large');
    expect(error.key).toBe('big');
    expect(error.status).toBe(413);
    // It did reach the proxy, which answered with its HTML page.
    expect(couchRecords(dbName, since).some((r) => r.status === 413)).toBe(true);
    expect(rec.to(emu.couchUrl).some((call) => call.status === 413)).toBe(true);
    await expect(c.store.get('big')).resolves.toBeUndefined();
    await expect(c.store.keys()).resolves.toEqual([]);
  });

  it('with the default limit a 1.5 MB value never puts a body over 1 MiB on the wire: stored whole, or too_large with the key', async () => {
    const name = uniqueName('pre413');
    const rec = recorder();
    const c = client(name, rec);
    const { dbName } = await c.ready();
    const since = Date.now();
    const value = 'y'.repeat(1_500_000);
    const outcome = await c.store.set('big', value).then(
      () => 'stored',
      (error: unknown) => error,
    );
    for (const call of rec.to(emu.couchUrl)) expect(call.bodyBytes, `${call.method} ${call.path}`).toBeLessThanOrEqual(LIMIT);
    expect(couchRecords(dbName, since).some((r) => r.status === 413)).toBe(false);
    if (outcome === 'stored') {
      // The store split it over several documents: it reads back whole.
      await expect(client(name, recorder()).store.get('big')).resolves.toBe(value);
    } else {
      expect(outcome).toMatchObject({ code: 'too_large', key: 'big' });
      await expect(c.store.get('big')).resolves.toBeUndefined();
    }
  });

  it('only the oversize key fails; the keys written with it in the same batch succeed (client limit 0)', async () => {
    const name = uniqueName('mixed413');
    const c = client(name, recorder(), { maxRequestBytes: 0 });
    await c.ready();
    const [small, big, other] = await Promise.allSettled([
      c.store.set('small', 'fits'),
      c.store.set('big', 'z'.repeat(1_500_000)),
      c.store.set('other', { also: 'fits' }),
    ]);
    expect(small.status).toBe('fulfilled');
    expect(other.status).toBe('fulfilled');
    expect(big.status).toBe('rejected');
    const error = (big as PromiseRejectedResult).reason as { code?: string; key?: string };
    expect(error.code).toBe('too_large');
    expect(error.key).toBe('big');
    await expect(c.store.get('small')).resolves.toBe('fits');
    await expect(c.store.get('other')).resolves.toEqual({ also: 'fits' });
    await expect(c.store.get('big')).resolves.toBeUndefined();
  });
});
