/**
 * Export of keys with conflicting leaves on the server (remote mode): docs/export.md promises each line's `value` is
 * exactly what `get(key)` returns, and get() resolves such a document through the resolver first (store.ts `#read`).
 * CouchDB's own winner (the longest branch, then the highest revision id) may be the older value.
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, isFeatError, type FeatClient, type FeatClientOptions, type FeatError } from '@feat/sdk';
import { userDbName } from '@feat/emulator';
import { uniqueUser, useEmulator } from '../support/backend.js';

const emu = useEmulator();

function client(user: string, extra: Partial<FeatClientOptions> = {}): FeatClient {
  return emu.track(
    createFeatClient({
      couchUrl: emu.couchUrl,
      accountsUrl: emu.accountsUrl,
      auth: emu.bearerFor(user),
      mode: 'remote',
      maintenance: { enabled: false },
      ...extra,
    } as FeatClientOptions),
  );
}

/** Stores documents with the revisions given (as replication does: `new_edits: false`), next to each other as leaves. */
async function inject(user: string, docs: object[]): Promise<void> {
  const token = await fetch(`${emu.accountsUrl}/couchdb/token/`, { headers: { Authorization: emu.bearerFor(user) } });
  expect(token.status).toBe(200);
  const { headers } = ((await token.json()) as { data: { headers: Record<string, string> } }).data;
  const put = await fetch(`${emu.couchUrl}/${userDbName(user)}/_bulk_docs`, {
    method: 'POST',
    headers: { ...headers, 'Content-Type': 'application/json' },
    body: JSON.stringify({ docs, new_edits: false }),
  });
  expect(put.status, await put.text()).toBe(201);
}

type Line = { key: string; value?: unknown; updatedAt?: number; deleted?: true };
const linesOf = (nd: string): Line[] =>
  nd
    .split('\n')
    .filter(Boolean)
    .slice(1)
    .map((l) => JSON.parse(l) as Line);
const lineOf = (nd: string, key: string) => linesOf(nd).find((l) => l.key === key);

/** Two live leaves of `key`: the newer one under the lower revision id, which CouchDB lets lose. */
const leaves = (key: string, newer: unknown, older: unknown, now: number) => [
  { _id: key, _rev: `1-${'a'.repeat(32)}`, doc: newer, feat: { updatedAt: now } },
  { _id: key, _rev: `1-${'f'.repeat(32)}`, doc: older, feat: { updatedAt: now - 60_000 } },
];

describe('export of keys with conflicting leaves (remote mode)', () => {
  it('a newer leaf CouchDB lets lose: the line carries the value get() returns, with its time', async () => {
    const user = uniqueUser('xcf1');
    const c = client(user);
    await c.ready();
    await c.store.set('a', 1);
    await c.store.set('z', 2);
    const now = Date.now();
    await inject(user, leaves('k', 'newer', 'older', now));
    // Exported first: no get() has resolved the leaves yet.
    const nd = await c.exportData();
    expect(linesOf(nd).map((l) => l.key)).toEqual(['a', 'k', 'z']);
    expect(JSON.parse(nd.split('\n')[0]!).counts.keys).toBe(3);
    expect(lineOf(nd, 'k')).toEqual({ key: 'k', value: 'newer', updatedAt: now });
    expect(await c.store.get('k')).toBe('newer');
    // The streamed variant reads the same.
    const streamed: string[] = [];
    for await (const line of await c.exportData({ format: 'lines' })) streamed.push(line);
    expect(lineOf(streamed.join('\n'), 'k')?.value).toBe('newer');
  });

  it('with a merging onConflict: the line carries the merge get() returns', async () => {
    const user = uniqueUser('xcf2');
    const c = client(user, { onConflict: ({ local, remote }) => [local.value, remote.value].flat().sort() });
    await c.ready();
    await inject(user, leaves('k', ['x'], ['y'], Date.now()));
    const nd = await c.exportData();
    const got = await c.store.get('k');
    expect(got).toEqual(['x', 'y']);
    expect(lineOf(nd, 'k')?.value).toEqual(got);
  });

  it('a resolver that throws: the export completes with the winner get() returns, the failure on the error event', async () => {
    const user = uniqueUser('xcf3');
    const c = client(user, {
      onConflict: () => {
        throw new Error('resolver broke');
      },
    });
    const errors: FeatError[] = [];
    c.sync.on('error', (e) => errors.push(e));
    await c.ready();
    await inject(user, leaves('k', 'newer', 'older', Date.now()));
    const nd = await c.exportData();
    expect(errors.length).toBeGreaterThan(0);
    expect(isFeatError(errors[0]) && errors[0].code).toBe('conflict');
    // The leaves are still there: get() (failing to resolve them again) returns the current winner, as exported.
    const got = await c.store.get('k');
    expect(lineOf(nd, 'k')?.value).toBe(got);
    expect(JSON.parse(nd.split('\n')[0]!).counts.keys).toBe(1);
  });

  it('an import of that export writes the resolved value', async () => {
    const user = uniqueUser('xcf4');
    const c = client(user);
    await c.ready();
    await inject(user, leaves('k', { v: 'newer' }, { v: 'older' }, Date.now()));
    const nd = await c.exportData();
    const dst = client(uniqueUser('xcf4d'));
    expect(await dst.importData(nd)).toEqual({ imported: 1, skipped: 0 });
    expect(await dst.store.get('k')).toEqual({ v: 'newer' });
  });
});

describe('a removal on another branch only (docs/export.md: out of a page read’s reach)', () => {
  it('once a get() resolved it, the export leaves the key out', async () => {
    const user = uniqueUser('xcf5');
    const c = client(user);
    await c.ready();
    const now = Date.now();
    await inject(user, [
      { _id: 'k', _rev: `1-${'f'.repeat(32)}`, doc: 'older', feat: { updatedAt: now - 60_000 } },
      { _id: 'k', _rev: `2-${'a'.repeat(32)}`, _deleted: true, feat: { updatedAt: now }, _revisions: { start: 2, ids: ['a'.repeat(32), 'b'.repeat(32)] } },
    ]);
    expect(await c.store.get('k')).toBeUndefined();
    expect(lineOf(await c.exportData(), 'k')).toBeUndefined();
  });
});
