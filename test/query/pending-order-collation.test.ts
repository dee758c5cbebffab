/**
 * find() in remote mode with writes on their way: the answer must be the one the server gives once they land.
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { uniqueUser, useEmulator } from '../support/backend.js';
import { useFaultProxy, type FaultRequest } from '../support/fault-proxy.js';

const emu = useEmulator();
const proxy = useFaultProxy(() => emu.couchUrl);
const isWrite = (r: FaultRequest) => r.method === 'PUT' || r.method === 'DELETE' || /_bulk_docs$/.test(r.path);
const client = (user: string): FeatClient =>
  emu.track(createFeatClient({ couchUrl: proxy.url, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote', requestTimeout: 10_000 } as FeatClientOptions));

type Q = { sort?: (string | Record<string, 'asc' | 'desc'>)[]; skip?: number; limit?: number };
async function compare(stored: Record<string, unknown>, writes: (c: FeatClient) => Promise<unknown>[], query: Q) {
  const c = client(uniqueUser('fx2-ord'));
  await c.store.setParts('n', stored);
  const run = async () => (await c.store.find<Record<string, unknown>>({ prefix: 'n', ...query } as never)).map((r) => r.subkey ?? r.key);
  proxy.fault(isWrite, 'delay', { delayMs: 2_000 });
  const pending = writes(c);
  await new Promise((r) => setTimeout(r, 50));
  const during = await run();
  proxy.clear();
  await Promise.all(pending);
  const after = await run();
  return { during, after };
}

describe('find() with writes on their way equals find() once they landed (remote)', () => {
  it('a pending write of a capitalised name is placed as the server collates it (ICU: apple < Apricot < Banana)', async () => {
    const { during, after } = await compare(
      { a: { name: 'apple' }, b: { name: 'Banana' }, c: { name: 'cherry' } },
      (c) => [c.store.set('n:d', { name: 'Apricot' })],
      { sort: ['name'] },
    );
    expect(after).toEqual(['a', 'd', 'b', 'c']);
    expect(during).toEqual(after);
  }, 30_000);

  it('two pending writes are ordered among themselves as the server collates them', async () => {
    const { during, after } = await compare(
      { a: { name: 'mango' } },
      (c) => [c.store.set('n:x', { name: 'Zebra' }), c.store.set('n:y', { name: 'apple' })],
      { sort: ['name'] },
    );
    expect(during).toEqual(after);
  }, 30_000);

  it('descending, with a window and a pending move out of it and a pending delete', async () => {
    const { during, after } = await compare(
      { a: { n: 1 }, b: { n: 2 }, c: { n: 3 }, d: { n: 4 }, e: { n: 5 } },
      (c) => [c.store.set('n:e', { n: 0 }), c.store.remove('n:d'), c.store.set('n:f', { n: 3.5 })],
      { sort: [{ n: 'desc' }], skip: 1, limit: 2 },
    );
    expect(during).toEqual(after);
  }, 30_000);

  it('sort on a field a pending write lacks', async () => {
    const { during, after } = await compare(
      { a: { n: 1 }, b: { n: 2 } },
      (c) => [c.store.set('n:c', { other: true }), c.store.set('n:a', { m: 1 })],
      { sort: ['n'] },
    );
    expect(during).toEqual(after);
  }, 30_000);

  it('mixed types in the sort field (null, number, string, object)', async () => {
    const { during, after } = await compare(
      { a: { n: 'b' }, b: { n: 2 }, c: { n: null }, d: { n: { x: 1 } } },
      (c) => [c.store.set('n:e', { n: 'B' }), c.store.set('n:f', { n: false }), c.store.set('n:g', { n: [1] })],
      { sort: ['n'] },
    );
    expect(during).toEqual(after);
  }, 30_000);
});
