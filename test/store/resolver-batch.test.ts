/**
 * An onConflict resolver that does not settle (10 s bound, RESOLVER_TIMEOUT_MS) over many conflicts at once: a write
 * batch, find() and an export wait out one bound, not one per conflict. A resolver value that cannot be stored is the
 * resolver's failure (`conflict`), never a read's `invalid_value`.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createFeatClient, isFeatError, type FeatClient, type FeatClientOptions, type FeatError } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator } from '../support/backend.js';

const emu = useEmulator();
const unhandled: unknown[] = [];
const onUnhandled = (e: unknown) => unhandled.push(e);
process.on('unhandledRejection', onUnhandled);
afterAll(() => {
  process.off('unhandledRejection', onUnhandled);
  expect(unhandled).toEqual([]);
});
/** A resolver that never settles: each client its own (one that did not settle is not asked again for a while). */
const never = () => () => new Promise<never>(() => undefined);

function client(user: string, extra: Partial<FeatClientOptions> = {}): { c: FeatClient; errors: FeatError[] } {
  const c = emu.track(
    createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote', onConflict: never(), ...extra } as FeatClientOptions),
  );
  const errors: FeatError[] = [];
  c.sync.on('error', (e) => errors.push(e));
  return { c, errors };
}

async function server(user: string) {
  const token = await fetch(`${emu.accountsUrl.replace(/\/+$/, '')}/couchdb/token/`, { headers: { Authorization: emu.bearerFor(user) } });
  const { data } = (await token.json()) as { data: { headers: Record<string, string>; dbname: string } };
  const url = `${emu.couchUrl.replace(/\/+$/, '')}/${data.dbname}`;
  const headers = { ...data.headers, 'Content-Type': 'application/json', Accept: 'application/json' };
  return {
    async leaves(id: string) {
      const now = Date.now();
      const docs = [
        { _id: id, _rev: `1-${'a'.repeat(32)}`, doc: { kind: 'newer' }, feat: { updatedAt: now } },
        { _id: id, _rev: `1-${'f'.repeat(32)}`, doc: { kind: 'older' }, feat: { updatedAt: now - 60_000 } },
      ];
      const r = await fetch(`${url}/_bulk_docs`, { method: 'POST', headers, body: JSON.stringify({ docs, new_edits: false }) });
      expect(r.status).toBe(201);
    },
    async put(id: string, value: unknown) {
      const r = await fetch(`${url}/${encodeURIComponent(id)}`, { method: 'PUT', headers, body: JSON.stringify({ doc: value, feat: { updatedAt: Date.now() } }) });
      expect(r.status).toBe(201);
    },
    async doc(id: string) {
      const r = await fetch(`${url}/${encodeURIComponent(id)}?conflicts=true`, { headers });
      return (await r.json()) as { doc?: unknown; _conflicts?: string[] };
    },
  };
}

async function outcome(p: Promise<unknown>, ms: number): Promise<{ how: string; value?: unknown; ms: number }> {
  const t0 = Date.now();
  const how = await Promise.race([
    p.then(
      (value) => ({ how: 'resolved', value }),
      (e: unknown) => ({ how: `rejected:${isFeatError(e) ? e.code : String(e)}`, value: e }),
    ),
    sleep(ms).then(() => ({ how: 'pending' })),
  ]);
  return { ...how, ms: Date.now() - t0 };
}

describe.concurrent('a resolver that does not settle, over many conflicts: one bound, not one per conflict', () => {
  it('setParts over 4 parts another client wrote: rejects conflict within about one bound (not 4 x 10 s)', async () => {
    const user = uniqueUser('rbb-parts');
    const { c } = client(user);
    await c.ready();
    const s = await server(user);
    for (const p of ['a', 'b', 'c', 'd']) await s.put(`obj:${p}`, `other-${p}`);
    const r = await outcome(c.store.setParts('obj', { a: 1, b: 2, c: 3, d: 4 }), 60_000);
    expect(r.how).toBe('rejected:conflict');
    expect(r.ms).toBeLessThan(16_000);
    for (const p of ['a', 'b', 'c', 'd']) expect((await s.doc(`obj:${p}`)).doc).toBe(`other-${p}`);
  }, 70_000);

  it("three set()s of different keys in one tick, each meeting another client's version: each rejects within about one bound", async () => {
    const user = uniqueUser('rbb-batch');
    const { c } = client(user);
    await c.ready();
    const s = await server(user);
    for (const k of ['k1', 'k2', 'k3']) await s.put(k, `other-${k}`);
    const rs = await Promise.all(['k1', 'k2', 'k3'].map((k) => outcome(c.store.set(k, 'mine'), 60_000)));
    for (const r of rs) expect(r.how).toBe('rejected:conflict');
    for (const r of rs) expect(r.ms).toBeLessThan(16_000);
  }, 70_000);

  it('remote find() over 17 conflicted documents: answers (the winners) within about one bound', async () => {
    const user = uniqueUser('rbb-find');
    const { c } = client(user);
    await c.ready();
    const s = await server(user);
    await Promise.all(Array.from({ length: 17 }, (_, i) => s.leaves(`f${String(i).padStart(2, '0')}`)));
    const r = await outcome(c.store.find({ prefix: 'f' }), 60_000);
    expect(r.how).toBe('resolved');
    expect((r.value as unknown[]).length).toBe(17);
    expect(r.ms).toBeLessThan(16_000);
  }, 70_000);

  it('exportData() over 3 conflicted keys: done within about one bound', async () => {
    const user = uniqueUser('rbb-export');
    const { c } = client(user);
    await c.ready();
    const s = await server(user);
    for (const k of ['e1', 'e2', 'e3']) await s.leaves(k);
    const r = await outcome(c.exportData(), 60_000);
    expect(r.how).toBe('resolved');
    expect(String(r.value).trim().split('\n')).toHaveLength(4);
    expect(r.ms).toBeLessThan(16_000);
  }, 70_000);
});

describe.concurrent('a resolver whose value cannot be stored', () => {
  for (const [name, value] of [
    ['a function', () => 1],
    ['NaN', Number.NaN],
  ] as const) {
    it(`returns ${name}: remote get() returns the winner and the failure goes to the error event as conflict`, async () => {
      const user = uniqueUser('rbb-nonjson');
      const { c, errors } = client(user, { onConflict: () => value as unknown });
      await c.ready();
      const s = await server(user);
      await s.leaves('k');
      const r = await outcome(c.store.get('k'), 15_000);
      expect(r.how).toBe('resolved');
      expect(r.value).toEqual({ kind: 'older' }); // CouchDB's winner (the higher revision)
      expect(errors.map((e) => e.code)).toContain('conflict');
      expect((await s.doc('k'))._conflicts).toHaveLength(1);
    }, 30_000);

    it(`returns ${name}: a write meeting a conflict rejects with conflict, nothing written`, async () => {
      const user = uniqueUser('rbb-nonjson-w');
      const { c } = client(user, { onConflict: () => value as unknown });
      await c.ready();
      const s = await server(user);
      await s.put('w', 'other');
      const r = await outcome(c.store.set('w', 'mine'), 15_000);
      expect(r.how).toBe('rejected:conflict');
      expect((await s.doc('w')).doc).toBe('other');
    }, 30_000);
  }
});
