/**
 * Writes over deletions, on the couchdb profile (which answers like CouchDB 3.4: a write naming a deleted document's
 * revision is a conflict). Found on the real server: a value set after a remove, or a key removed twice, failed with
 * `conflict` after six attempts in remote mode, because the SDK named the tombstone's revision.
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClientOptions } from '@feat/sdk';
import { uniqueUser, useEmulator } from '../support/backend.js';

const emu = useEmulator({ profile: 'couchdb' });

describe.each([
  { name: 'remote', options: { mode: 'remote' } },
  { name: 'local-first', options: { mode: 'local-first', local: { adapter: 'memory' } } },
] as const)('writes over deletions ($name)', ({ options }) => {
  const client = (user: string) =>
    emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), ...options } as FeatClientOptions));

  it('set after remove, remove twice, set again: each call succeeds and reads back', async () => {
    const user = uniqueUser('tomb');
    const { store, sync } = client(user);
    await store.set('k', 1);
    await store.remove('k');
    expect(await store.get('k')).toBeUndefined();
    await store.set('k', 2);
    expect(await store.get('k')).toBe(2);
    await store.remove('k');
    await store.remove('k'); // already deleted: a later tombstone
    expect(await store.get('k')).toBeUndefined();
    await store.set('k', 3);
    await store.flush();
    if (options.mode === 'local-first') await sync.waitForPush({ timeout: 10_000 });
    const other = client(user);
    await other.ready();
    expect(await other.store.get('k')).toBe(3);
  });

  it('another client removes; this one, which knew the tombstone, writes on top without a conflict error', async () => {
    const user = uniqueUser('tomb2');
    const a = client(user);
    const b = client(user);
    await a.store.set('shared', 'a');
    if (options.mode === 'local-first') await a.sync.waitForPush({ timeout: 10_000 });
    await b.ready();
    expect(await b.store.get('shared')).toBe('a');
    await b.store.remove('shared');
    await b.store.set('shared', 'b');
    expect(await b.store.get('shared')).toBe('b');
  });
});
