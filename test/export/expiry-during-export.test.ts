/**
 * From the thirty-first session's attack: a value that expired while an export ran was written as a line with no
 * value (its read took "now", the scan `exportedAt`), and the SDK's own import refused the whole file. Values are read
 * as of `exportedAt` now. Also: deletions during an export, failures and aborts of an import (held).
 * And a `deleted` line carrying a value is refused, as an `error` line with one is (it was skipped with its value).
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, isFeatError, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { clientIn, sleep, uniqueUser, useEmulator } from '../support/backend.js';
import { useFaultProxy } from '../support/fault-proxy.js';

const emu = useEmulator();
const proxy = useFaultProxy(() => emu.couchUrl);
const lines = (nd: string) => nd.split('\n').slice(1, -1).map((l) => JSON.parse(l) as { key: string; value?: unknown; deleted?: boolean; expiresAt?: number });
const header = (nd: string) => JSON.parse(nd.split('\n')[0]!) as { exportedAt: string; counts: { keys: number; parts: number } };
const viaProxy = (user: string, extra: Partial<FeatClientOptions> = {}): FeatClient =>
  emu.track(createFeatClient({ couchUrl: proxy.url, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote', maintenance: { enabled: false }, ...extra } as FeatClientOptions));
const H = (keys: number) => JSON.stringify({ format: 'feat-export', version: 1, userName: 'x', dbName: 'y', exportedAt: new Date().toISOString(), counts: { keys, parts: 0 } });
const file = (n: number, prefix = 'i') => [H(n), ...Array.from({ length: n }, (_, i) => JSON.stringify({ key: `${prefix}${String(i).padStart(5, '0')}`, value: { i, pad: 'z'.repeat(300) }, updatedAt: 1 }))].join('\n') + '\n';
const writtenOf = (e: unknown) => Number(/(\d+) key\(s\)/.exec((e as Error).message)?.[1] ?? NaN);

describe('remote, slow link', () => {
  it('a value that expires during the export (not at exportedAt): its line keeps the value; counts exact', async () => {
    const user = uniqueUser('exq31');
    const s = clientIn(emu, user, 'remote');
    await Promise.all(Array.from({ length: 250 }, (_, i) => s.store.set(`k${String(i).padStart(3, '0')}`, i)));
    await s.store.set('zzz', 'short-lived', { ttl: 1_200 });
    const c = viaProxy(user);
    await c.ready();
    proxy.fault((r) => r.method !== 'PUT' && /_all_docs/.test(r.path), 'delay', { delayMs: 400 });
    const t0 = Date.now();
    const nd = await c.exportData();
    proxy.clear();
    const took = Date.now() - t0;
    const ls = lines(nd);
    const z = ls.find((l) => l.key === 'zzz');
    console.log('took', took, 'zzz line', JSON.stringify(z), 'exportedAt', header(nd).exportedAt);
    expect(ls.length).toBe(header(nd).counts.keys);
    expect(took).toBeGreaterThan(1_200);
    const imp = await clientIn(emu, uniqueUser('exq31'), 'remote').importData(nd).then((v) => JSON.stringify(v), (e: unknown) => (isFeatError(e) ? `${e.code}: ${e.message}` : String(e)));
    console.log('import of that export:', imp);
    expect(z?.value, 'value not expired at exportedAt is exported').toBe('short-lived');
  }, 60_000);

  it('keys deleted by another client during the export: deleted lines, counts exact; an import of it adds up', async () => {
    const user = uniqueUser('exq31');
    const s = clientIn(emu, user, 'remote');
    await Promise.all(Array.from({ length: 250 }, (_, i) => s.store.set(`k${String(i).padStart(3, '0')}`, i)));
    const c = viaProxy(user);
    await c.ready();
    proxy.fault((r) => /_all_docs/.test(r.path), 'delay', { delayMs: 300 });
    const exp = c.exportData();
    await sleep(350);
    await Promise.all(Array.from({ length: 250 }, (_, i) => (i % 2 ? s.store.remove(`k${String(i).padStart(3, '0')}`) : Promise.resolve())));
    const nd = await exp;
    proxy.clear();
    const ls = lines(nd);
    expect(ls.length).toBe(header(nd).counts.keys);
    const del = ls.filter((l) => l.deleted).length;
    console.log('deleted lines', del, 'of', ls.length);
    for (const l of ls) expect(l.deleted === true ? !('value' in l) : 'value' in l, JSON.stringify(l)).toBe(true);
    const b = clientIn(emu, uniqueUser('exq31'), 'remote');
    const res = await b.importData(nd);
    expect(res.imported + res.skipped).toBe(header(nd).counts.keys);
    expect(res.skipped).toBe(del);
  }, 60_000);

  it('an import whose 2nd write page gets 500s: server, the message says how many keys, and that many are stored', async () => {
    const user = uniqueUser('exq31');
    const c = viaProxy(user);
    await c.ready();
    let pages = 0;
    proxy.fault((r) => r.method === 'POST' && /_bulk_docs$/.test(r.path) && ++pages >= 2, 'answer', { status: 500, times: 20 });
    const e = await c.importData(file(450)).then(() => undefined, (x: unknown) => x);
    proxy.clear();
    expect(isFeatError(e) && e.code, String(e)).toBe('server');
    const n = writtenOf(e);
    const stored = (await clientIn(emu, user, 'remote').store.keys()).length;
    console.log((e as Error).message, 'stored', stored);
    expect(stored).toBe(n);
  }, 60_000);

  it('an import aborted while a write page is held: aborted at once, written ≤ stored ≤ written + under way', async () => {
    const user = uniqueUser('exq31');
    const c = viaProxy(user);
    await c.ready();
    let pages = 0;
    proxy.fault((r) => r.method === 'POST' && /_bulk_docs$/.test(r.path) && ++pages === 3, 'swallow', { times: 1 });
    const ac = new AbortController();
    const p = c.importData(file(450), { signal: ac.signal }).then(() => undefined, (x: unknown) => x);
    await sleep(1_000);
    const t0 = Date.now();
    ac.abort();
    const e = await p;
    expect(Date.now() - t0).toBeLessThan(500);
    expect(isFeatError(e) && e.code, String(e)).toBe('aborted');
    proxy.release();
    proxy.clear();
    await sleep(300);
    const msg = (e as Error).message;
    const written = writtenOf(e);
    const underWay = Number(/(\d+) more were being written/.exec(msg)?.[1] ?? 0);
    const stored = (await clientIn(emu, user, 'remote').store.keys()).length;
    console.log(msg, 'stored', stored);
    expect(stored).toBeGreaterThanOrEqual(written);
    expect(stored).toBeLessThanOrEqual(written + underWay);
  }, 60_000);

  it('close() while a lines export is stalled: the iteration settles (closed/aborted), close bounded', async () => {
    const user = uniqueUser('exq31');
    const s = clientIn(emu, user, 'remote');
    await Promise.all(Array.from({ length: 250 }, (_, i) => s.store.set(`k${String(i).padStart(3, '0')}`, i)));
    const c = viaProxy(user, { requestTimeout: 30_000 });
    await c.ready();
    let reads = 0;
    proxy.fault((r) => /_all_docs/.test(r.path) && ++reads === 3, 'stall', { times: 1 });
    const it = await c.exportData({ format: 'lines' });
    let n = 0;
    const done = (async () => { try { for await (const _ of it) n++; return 'completed'; } catch (x) { return isFeatError(x) ? x.code : String(x); } })();
    await sleep(800);
    const t0 = Date.now();
    await c.close();
    const closeTook = Date.now() - t0;
    const r = await Promise.race([done, sleep(5_000).then(() => 'HUNG')]);
    proxy.release();
    proxy.clear();
    console.log('close took', closeTook, 'iteration', r, 'after', n, 'lines');
    expect(closeTook).toBeLessThan(5_000);
    expect(['closed', 'aborted']).toContain(r);
  }, 60_000);
});

describe.each(['remote', 'local-first'] as const)('%s', (mode) => {
  for (const format of ['text', 'lines'] as const) {
    it(`a big (chunked) value and a part expiring during the export (${format}): well-formed lines; the file imports`, async () => {
      const a = clientIn(emu, uniqueUser('exq31'), mode);
      await a.store.set('a', 1);
      await a.store.set('big', 'B'.repeat(1_300_000), { ttl: 1_000 });
      await a.store.set('doc:p', 'part', { ttl: 1_000 });
      let waited = false;
      const onProgress = (e: { phase: string }) => {
        if (e.phase === 'export' && !waited) {
          waited = true;
          const until = Date.now() + 1_500;
          while (Date.now() < until);
        }
      };
      let nd: string;
      if (format === 'text') nd = await a.exportData({ onProgress });
      else {
        const ls: string[] = [];
        for await (const l of await a.exportData({ format: 'lines', onProgress })) ls.push(l);
        nd = ls.join('\n') + '\n';
      }
      console.log(mode, format, nd.split('\n').slice(1, -1).map((l) => l.slice(0, 90)).join(' || '));
      const imp = await clientIn(emu, uniqueUser('exq31'), mode).importData(nd).then((v) => JSON.stringify(v), (e: unknown) => (isFeatError(e) ? `${e.code}: ${e.message}` : String(e)));
      expect(imp, 'the export imports').toMatch(/^\{"imported":\d+,"skipped":\d+\}$/);
    }, 30_000);
  }

  it('a value that expires between the scan and its line (onProgress busy for 1.5 s): a well-formed line; the file imports', async () => {
    const a = clientIn(emu, uniqueUser('exq31'), mode);
    await a.store.set('a', 1);
    await a.store.set('zzz', 'short-lived', { ttl: 1_000 });
    let waited = false;
    const nd = await a.exportData({
      onProgress: (e) => {
        if (e.phase === 'export' && !waited) {
          waited = true;
          const until = Date.now() + 1_500;
          while (Date.now() < until);
        }
      },
    });
    const z = lines(nd).find((l) => l.key === 'zzz');
    console.log(mode, 'zzz line', JSON.stringify(z));
    const imp = await clientIn(emu, uniqueUser('exq31'), mode).importData(nd).then((v) => JSON.stringify(v), (e: unknown) => (isFeatError(e) ? `${e.code}: ${e.message}` : String(e)));
    expect(imp, 'the export imports').toBe(JSON.stringify({ imported: 1, skipped: 1 }));
    expect(z?.value, 'value not expired at exportedAt is exported').toBe('short-lived');
  }, 30_000);

  it('a 5,000-key file: imported within bounds, exported back identical', async () => {
    const a = clientIn(emu, uniqueUser('exq31'), mode);
    const nd = file(5_000);
    const t0 = Date.now();
    expect(await a.importData(nd)).toEqual({ imported: 5_000, skipped: 0 });
    const took = Date.now() - t0;
    const back = lines(await a.exportData());
    console.log(mode, 'import 5000 took', took);
    expect(back.map((l) => [l.key, l.value])).toEqual(lines(nd).map((l) => [l.key, l.value]));
  }, 120_000);

  it('import while another client writes the same keys: every key ends with one of the two values, no error', async () => {
    const user = uniqueUser('exq31');
    const a = clientIn(emu, user, mode);
    const w = clientIn(emu, user, 'remote');
    const nd = file(300, 'c');
    const imp = a.importData(nd);
    await Promise.all(Array.from({ length: 300 }, (_, i) => w.store.set(`c${String(i).padStart(5, '0')}`, 'other')));
    const res = await imp;
    expect(res.imported + res.skipped).toBe(300);
    if (mode === 'local-first') await a.sync.waitForPush({ timeout: 30_000 });
    const r = clientIn(emu, user, 'remote');
    const vals = await Promise.all(Array.from({ length: 300 }, (_, i) => r.store.get(`c${String(i).padStart(5, '0')}`)));
    expect(vals.filter((v) => v !== 'other' && (v as { i?: number })?.i === undefined)).toEqual([]);
  }, 90_000);
});

describe.each(['remote', 'local-first'] as const)('%s: a "deleted" line that also carries a value', (mode) => {
  it('is refused (invalid_argument), not skipped with its value', async () => {
    const a = clientIn(emu, uniqueUser('exp31d'), mode);
    const nd = [H(1), JSON.stringify({ key: 'n2', value: 5, deleted: true, updatedAt: 1 })].join('\n') + '\n';
    const r = await a.importData(nd).then((v) => v, (e: unknown) => e);
    expect(isFeatError(r) ? r.code : r).toBe('invalid_argument');
    expect(await a.store.keys()).toEqual([]);
  });
});
