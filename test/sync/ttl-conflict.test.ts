/**
 * A value's expiry (`set(…, { ttl })`) through conflict resolution: the kept value keeps the expiry of the version it
 * came from, whichever revision CouchDB picked as the winner; a merge expires only when every side would. Public API,
 * two devices of one user, on the emulator or (FEAT_BACKEND=real) the real CouchDB behind nginx.
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, type ConflictEvent, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';

const emu = useEmulator();
const TTL = 8_000;

function device(user: string, extra: Partial<FeatClientOptions> = {}): FeatClient & { conflicts: ConflictEvent[] } {
  const client = emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), local: { adapter: 'memory' }, ...extra }));
  const conflicts: ConflictEvent[] = [];
  client.sync.on('conflict', (event) => conflicts.push(event));
  return Object.assign(client, { conflicts });
}

describe('ttl through conflict resolution', () => {
  it('replication: the later write (with ttl) wins over a plain leaf CouchDB picked as winner — the resolved value still expires, on both devices and the server', async () => {
    const user = uniqueUser('ttl-leaves');
    const a = device(user);
    const b = device(user);
    await a.ready();
    await b.ready();
    await a.store.set('k', 'base');
    await a.sync.waitForPush({ timeout: 20_000 });
    await waitFor(async () => (await b.store.get('k')) === 'base', 20_000, 'b has the base value');
    a.sync.pause();
    b.sync.pause();
    // Two revisions on A: its leaf is one generation higher, so CouchDB's winner is A's plain value, whatever the hashes.
    await a.store.set('k', 'A-plain-1');
    await a.store.set('k', 'A-plain-2');
    await sleep(20);
    await b.store.set('k', 'B-ttl', { ttl: TTL });
    const wroteAt = Date.now();
    b.sync.resume();
    await b.sync.waitForPush({ timeout: 20_000 });
    a.sync.resume();
    await a.sync.waitForPush({ timeout: 20_000 });
    await waitFor(() => a.conflicts.length + b.conflicts.length > 0, 20_000, 'a replication conflict');
    const event = [...a.conflicts, ...b.conflicts][0]!;
    expect(event.source).toBe('replication');
    expect(event.resolved).toBe('B-ttl');
    await waitFor(async () => (await a.store.get('k')) === 'B-ttl' && (await b.store.get('k')) === 'B-ttl', 20_000, 'both have the resolved value');
    await a.sync.waitForPush({ timeout: 20_000 });
    await b.sync.waitForPush({ timeout: 20_000 });
    // A device that comes later reads the resolved value from the server, and sees it expire as well.
    const c = device(user);
    await c.ready();
    expect(await c.store.get('k')).toBe('B-ttl');
    await sleep(Math.max(0, wroteAt + TTL + 500 - Date.now()));
    expect(await a.store.get('k')).toBeUndefined();
    expect(await b.store.get('k')).toBeUndefined();
    expect(await c.store.get('k')).toBeUndefined();
    expect(await a.store.keys('k')).toEqual([]);
  }, 90_000);

  it('a write meeting a conflict: a merge of a value with ttl and one without never expires; the app\'s own value keeps its ttl', async () => {
    const user = uniqueUser('ttl-merge');
    const merge = (c: { local: { value: unknown }; remote: { value: unknown } }) => `${String(c.remote.value)}+${String(c.local.value)}`;
    const a = device(user, { mode: 'remote' });
    const b = device(user, { mode: 'remote', onConflict: merge });
    await a.store.set('m', 'one');
    expect(await b.store.get('m')).toBe('one');
    await a.store.set('m', 'plain'); // b has not seen it
    await b.store.set('m', 'with-ttl', { ttl: 1_000 });
    expect(b.conflicts.map((c) => c.resolved)).toEqual(['plain+with-ttl']);
    await sleep(1_500);
    expect(await b.store.get('m')).toBe('plain+with-ttl');
    expect(await a.store.get('m')).toBe('plain+with-ttl');

    // The app's own value chosen by the resolver keeps its ttl.
    const c = device(user, { mode: 'remote', onConflict: (conflict) => conflict.local.value });
    expect(await c.store.get('o')).toBeUndefined();
    await a.store.set('o', 'plain');
    await c.store.set('o', 'mine', { ttl: 1_000 });
    expect(c.conflicts.map((e) => e.resolved)).toEqual(['mine']);
    expect(await a.store.get('o')).toBe('mine');
    await sleep(1_500);
    expect(await a.store.get('o')).toBeUndefined();
  }, 60_000);
});
