/**
 * One key rewritten back to back (awaited writes, no pause: an app saving on every keystroke of a fast typist, a
 * script). On the memory and LevelDB adapters the replica's changes feed skips a document written again while it
 * reads, so under such a writer it delivered nothing: the server stood still for seconds, fell over a thousand
 * revisions behind, and once the history sent no longer reached the server's leaf, the single writer met its own
 * older revision as a conflict (an `error` event "kept changing while it was resolved", a deleted branch left on the
 * server). The push now sends this client's own writes the feed has not delivered within 0.75 s by themselves.
 * (Found by a scale attack; README "Sync": a local write is sent at once.)
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClient } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator } from '../support/backend.js';

const emu = useEmulator({ profile: 'couchdb' });

/** The server's document of `key` as CouchDB stores it (its revision and its other leaves). */
async function rawDoc(user: string, key: string): Promise<{ _rev?: string; _conflicts?: string[]; _deleted_conflicts?: string[] }> {
  const token = (await (await fetch(`${emu.accountsUrl}/couchdb/token/`, { headers: { Authorization: emu.bearerFor(user) } })).json()) as {
    data: { headers: Record<string, string>; dbname: string };
  };
  const url = `${emu.couchUrl}/${encodeURIComponent(token.data.dbname)}/${encodeURIComponent(key)}?conflicts=true&deleted_conflicts=true`;
  const r = await fetch(url, { headers: token.data.headers });
  return r.status === 404 ? {} : ((await r.json()) as { _rev?: string });
}

const generation = (rev: string | undefined) => (rev ? Number.parseInt(rev, 10) : 0);

describe('one key written back to back (local-first, memory replica)', () => {
  it('the server follows within about a second, and a single writer meets no conflict of its own revisions', async () => {
    const user = uniqueUser('hot');
    const client: FeatClient = emu.track(
      createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), local: { adapter: 'memory' }, maintenance: { enabled: false } }),
    );
    const errors: string[] = [];
    const conflicts: unknown[] = [];
    client.sync.on('error', (e) => errors.push(`${e.code}: ${e.message}`));
    client.sync.on('conflict', (e) => conflicts.push(e));
    await client.ready();
    let writing = true;
    const seen: [number, number][] = [];
    const polling = (async () => {
      while (writing) {
        seen.push([performance.now(), generation((await rawDoc(user, 'hot'))._rev)]);
        await sleep(100);
      }
    })();
    const started = performance.now();
    let written = 0;
    // Long enough for the revision tree to pass the replica's 1,000 revisions.
    while (written < 1_500 || performance.now() - started < 4_000) {
      await client.store.set('hot', { body: `typed ${written} `.repeat(20), i: written });
      written++;
    }
    writing = false;
    await polling;
    // The longest time the server's revision stood still while this device kept writing.
    let stall = 0;
    let since = seen[0]![0];
    for (let i = 1; i < seen.length; i++) {
      if (seen[i]![1] !== seen[i - 1]![1]) since = seen[i]![0];
      else stall = Math.max(stall, seen[i]![0] - since);
    }
    await client.sync.waitForPush({ timeout: 60_000 });
    expect(stall, `the server stood still this long (ms) during ${written} writes`).toBeLessThan(2_500);
    const raw = await rawDoc(user, 'hot');
    expect(generation(raw._rev)).toBe(written);
    expect(raw._conflicts ?? []).toEqual([]);
    expect(raw._deleted_conflicts ?? []).toEqual([]);
    expect(errors).toEqual([]);
    expect(conflicts).toEqual([]);
    expect(await client.store.get('hot')).toMatchObject({ i: written - 1 });
  }, 120_000);
});
