/**
 * An onConflict resolver that does not settle (10 s bound, RESOLVER_TIMEOUT_MS) over many conflicts at once: a write
 * batch, find() and an export wait out one bound, not one per conflict. A resolver value that cannot be stored is the
 * resolver's failure (`conflict`), never a read's `invalid_value`.
 */
import { describe, expect, it } from 'vitest';
import { type FeatClientOptions } from '@feat/sdk';
import { uniqueUser, useEmulator } from '../support/backend.js';
import { noUnhandledRejections, outcome, rawDatabase, resolverClient } from '../support/resolver-harness.js';

const emu = useEmulator();
noUnhandledRejections();
const client = (user: string, extra: Partial<FeatClientOptions> = {}) => resolverClient(emu, user, extra);
const server = (user: string) => rawDatabase(emu, user);

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
