/**
 * Local-first read-modify-write: another device's change pulled in between the app's read and its write is a conflict
 * for the resolver (as a 409 is in remote mode), never silently overwritten.
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, type Conflict, type ConflictEvent, type FeatClientOptions } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';

const emu = useEmulator();

type Bag = { items: string[] };
const union = (c: Conflict): Bag => {
  const items = new Set<string>();
  for (const side of [c.local, c.remote]) for (const i of (side.value as Bag | undefined)?.items ?? []) items.add(i);
  return { items: [...items].sort() };
};

describe('read-modify-write in local-first mode', () => {
  it('a revision pulled after the read goes to the resolver: both edits survive, one write conflict', async () => {
    const user = uniqueUser('rmw');
    const device = (extra: Partial<FeatClientOptions>) =>
      emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), onConflict: union, ...extra } as FeatClientOptions));
    const a = device({ mode: 'remote' });
    const b = device({ mode: 'local-first', local: { adapter: 'memory' } });
    const conflicts: ConflictEvent[] = [];
    b.sync.on('conflict', (e) => conflicts.push(e));
    await Promise.all([a.ready(), b.ready()]);
    await a.store.set('list', { items: ['base'] });
    await waitFor(async () => (await b.store.get<Bag>('list'))?.items.length === 1, 20_000, 'B has the base');
    await sleep(200);
    const seen = (await b.store.get<Bag>('list'))!; // B's app reads the list...
    const arrived: unknown[] = [];
    const off = b.store.watch('list', (e) => arrived.push(e.value));
    await sleep(200);
    await a.store.set('list', { items: ['base', 'from-A'] }); // ...A's edit reaches B meanwhile...
    await waitFor(() => arrived.length > 0, 20_000, "A's change reached B");
    off();
    await b.store.set('list', { items: [...seen.items, 'from-B'] }); // ...and B saves its edit of what it read
    await b.sync.waitForPush({ timeout: 20_000 });
    expect(await b.store.get('list')).toEqual({ items: ['base', 'from-A', 'from-B'] });
    expect(await a.store.get('list')).toEqual({ items: ['base', 'from-A', 'from-B'] });
    expect(conflicts.map((c) => [c.source, c.key, c.resolved])).toEqual([['write', 'list', { items: ['base', 'from-A', 'from-B'] }]]);
  }, 60_000);

  it('a key read as absent, then created by another device before the write: the resolver decides, nothing is lost', async () => {
    const user = uniqueUser('rma');
    const device = (extra: Partial<FeatClientOptions>) =>
      emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), onConflict: union, ...extra } as FeatClientOptions));
    const a = device({ mode: 'remote' });
    const b = device({ mode: 'local-first', local: { adapter: 'memory' } });
    const conflicts: ConflictEvent[] = [];
    b.sync.on('conflict', (e) => conflicts.push(e));
    await Promise.all([a.ready(), b.ready()]);
    expect(await b.store.get('draft')).toBeUndefined(); // B's app reads: no draft yet...
    const arrived: unknown[] = [];
    const off = b.store.watch('draft', (e) => arrived.push(e.value));
    await a.store.set('draft', { items: ['from-A'] }); // ...A creates one, which reaches B's replica...
    await waitFor(() => arrived.length > 0, 20_000, "A's draft reached B");
    off();
    await b.store.set('draft', { items: ['from-B'] }); // ...and B creates its own, later by the clock
    await b.sync.waitForPush({ timeout: 20_000 });
    expect(await b.store.get('draft')).toEqual({ items: ['from-A', 'from-B'] });
    await waitFor(async () => JSON.stringify(await a.store.get('draft')) === JSON.stringify({ items: ['from-A', 'from-B'] }), 20_000, 'A has the merge');
    expect(conflicts.map((c) => [c.source, c.key, c.resolved])).toEqual([['write', 'draft', { items: ['from-A', 'from-B'] }]]);
  }, 60_000);
});
