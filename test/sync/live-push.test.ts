/**
 * The live push answers `_revs_diff` itself once caught up (replicator.ts): it sends what was written here and never
 * sends back what arrived by pull — neither the first pull's documents nor live ones — and still sends a local
 * revision that conflicts with a pulled one.
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { uniqueUser, useEmulator, waitFor } from '../support/backend.js';

const emu = useEmulator({ profile: 'couchdb' });

/** A client whose pushed documents (`_bulk_docs` bodies, by `_id`) are recorded. */
function client(user: string, extra: Partial<FeatClientOptions> = {}): { c: FeatClient; pushed: string[] } {
  const pushed: string[] = [];
  const fetchFn: typeof fetch = (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (url.includes('/_bulk_docs') && typeof init?.body === 'string') {
      for (const doc of (JSON.parse(init.body) as { docs: { _id: string }[] }).docs) pushed.push(doc._id);
    }
    return fetch(input, init);
  };
  const c = emu.track(
    createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), local: { adapter: 'memory' }, fetch: fetchFn, ...extra }),
  );
  return { c, pushed };
}

describe('live push', () => {
  it('a new device sends only its own write, not what its first pull brought', async () => {
    const user = uniqueUser('livepush');
    const { c: a } = client(user);
    await a.ready();
    await Promise.all(Array.from({ length: 20 }, (_, i) => a.store.set(`k${i}`, { i })));
    await a.sync.waitForPush({ timeout: 10_000 });
    const { c: b, pushed } = client(user);
    await b.ready();
    expect(await b.store.get('k19')).toEqual({ i: 19 });
    await waitFor(() => b.sync.status === 'idle', 10_000, 'B idle');
    await b.store.set('mine', 1);
    await b.sync.waitForPush({ timeout: 10_000 });
    expect(pushed).toEqual([expect.stringContaining('mine')]);
  }, 60_000);

  it('edits pulled live are not sent back, and the server has every one', async () => {
    const user = uniqueUser('livepush');
    const { c: a } = client(user);
    const { c: b, pushed } = client(user);
    await Promise.all([a.ready(), b.ready()]);
    await waitFor(() => b.sync.status === 'idle', 10_000, 'B idle');
    for (let i = 0; i < 10; i++) await a.store.set(`k${i % 3}`, { i });
    await a.sync.waitForPush({ timeout: 10_000 });
    await waitFor(async () => (await b.store.get<{ i: number }>('k0'))?.i === 9, 10_000, 'B has the last edit');
    await waitFor(async () => (await b.store.get<{ i: number }>('k2'))?.i === 8, 10_000, 'B has the last edit of k2');
    await b.sync.waitForPush({ timeout: 10_000 });
    expect(pushed).toEqual([]);
    const { c: fresh } = client(user);
    await fresh.ready();
    expect(await fresh.store.get('k1')).toEqual({ i: 7 });
  }, 60_000);

  it('a local edit that conflicts with a pulled one is still sent, and both devices agree', async () => {
    const user = uniqueUser('livepush');
    const { c: a } = client(user);
    const { c: b, pushed } = client(user);
    await Promise.all([a.ready(), b.ready()]);
    await a.store.set('x', 'first');
    await waitFor(async () => (await b.store.get('x')) === 'first', 10_000, 'B has x');
    await waitFor(() => b.sync.status === 'idle', 10_000, 'B idle');
    b.sync.pause();
    await b.store.set('x', 'from b');
    await a.store.set('x', 'from a');
    await a.sync.waitForPush({ timeout: 10_000 });
    b.sync.resume();
    await b.sync.waitForPush({ timeout: 10_000 });
    expect(pushed.some((id) => id.includes('x'))).toBe(true);
    await waitFor(async () => (await a.store.get('x')) === (await b.store.get('x')), 15_000, 'both devices agree');
  }, 60_000);
});
