/**
 * A replication conflict is merged once, whoever resolves it: the merge and the deletions of the losing leaves land in
 * one request (no one sees the merge next to a leaf it already holds and merges again), with revisions every resolver
 * derives alike (a remote-mode reader on the server and a local-first device in its replica write the same ones), and
 * leaves holding the same value are not given to the resolver.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createFeatClient, type Conflict, type ConflictEvent, type FeatClientOptions } from '@feat/sdk';
import { createFeatApi } from '@feat/sdk/api';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';

const emu = useEmulator();
let proxies: FaultProxy[] = [];
afterEach(async () => {
  await Promise.all(proxies.map((p) => p.close()));
  proxies = [];
});

// Pure, as the README asks: merges by concatenation, so a merge applied twice shows.
const calls: string[] = [];
const concat = (c: Conflict): string | undefined => {
  const [l, r] = [c.local.value as string | undefined, c.remote.value as string | undefined];
  calls.push(`${l}|${r}`);
  return l === undefined ? r : r === undefined ? l : [l, r].sort().join('+');
};

function device(user: string, mode: 'remote' | 'local-first', couchUrl = emu.couchUrl) {
  const events: ConflictEvent[] = [];
  const c = emu.track(
    createFeatClient({
      couchUrl,
      accountsUrl: emu.accountsUrl,
      auth: emu.bearerFor(user),
      mode,
      ...(mode === 'local-first' ? { local: { adapter: 'memory' } } : {}),
      onConflict: concat,
    } as FeatClientOptions),
  );
  c.sync.on('conflict', (e) => events.push(e));
  return Object.assign(c, { events });
}

/** The user's database on the server, as another app (or a replication) writes it. */
async function server(user: string) {
  await device(user, 'remote').store.set('first', 1); // the database exists from the first write on
  const token = await createFeatApi({ apiUrl: emu.apiUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user) }).accounts.couchToken();
  const db = `${emu.couchUrl}/${token.dbname}`;
  const headers = { ...token.headers, 'Content-Type': 'application/json' };
  return {
    /** Two conflicting leaves of `k`, as two devices' replications leave them. */
    async leaves(id: string, a: unknown, c: unknown) {
      const now = Date.now();
      const docs = [['1-' + 'a'.repeat(32), a], ['1-' + 'c'.repeat(32), c]].map(([_rev, doc]) => ({ _id: id, _rev, doc, feat: { updatedAt: now } }));
      expect((await fetch(`${db}/_bulk_docs`, { method: 'POST', headers, body: JSON.stringify({ new_edits: false, docs }) })).status).toBe(201);
    },
    async conflicts(id: string): Promise<string[]> {
      const doc = (await (await fetch(`${db}/${id}?conflicts=true`, { headers })).json()) as { _conflicts?: string[] };
      return doc._conflicts ?? [];
    },
  };
}

const merges = (events: ConflictEvent[]) => events.map((e) => `${String(e.local.value)}|${String(e.remote.value)}→${String(e.resolved)}`);

describe('a conflict is merged once', () => {
  it("a remote-mode reader's merge and the losers' deletions land together: a device pulling then does not merge again", async () => {
    const user = uniqueUser('merge-once');
    const couch = await server(user);
    await couch.leaves('k', 'A', 'C');
    const proxy = await startFaultProxy(emu.couchUrl);
    proxies.push(proxy);
    // The reader's second `_bulk_docs` (before: the deletion of the losing leaf, sent after the merge) never arrives.
    let writes = 0;
    proxy.fault((req) => req.method === 'POST' && /\/_bulk_docs$/.test(req.path) && ++writes === 2, 'hold');
    const reader = device(user, 'remote', proxy.url);
    void reader.store.get('k').catch(() => undefined);
    await waitFor(async () => (await couch.conflicts('k')).length === 0 || writes >= 2, 10_000, 'the reader wrote');
    const pulling = device(user, 'local-first');
    await pulling.ready();
    await sleep(500);
    expect(await pulling.store.get('k')).toBe('A+C');
    expect(merges(pulling.events).filter((m) => !m.endsWith('→A+C'))).toEqual([]);
    expect(await couch.conflicts('k')).toEqual([]);
  }, 30_000);

  it('a local-first device and a remote-mode reader resolving the same leaves on their own write the same revisions', async () => {
    const user = uniqueUser('merge-same');
    const couch = await server(user);
    const proxy = await startFaultProxy(emu.couchUrl);
    proxies.push(proxy);
    // The local-first device pulls the leaves and resolves them in its replica, but cannot push yet.
    const off = proxy.fault({ method: 'POST', path: /\/_bulk_docs$/ }, 'answer', { status: 503 });
    const local = device(user, 'local-first', proxy.url);
    await local.ready();
    await couch.leaves('k', 'A', 'C');
    await waitFor(async () => (await local.store.get('k')) === 'A+C', 10_000, 'the device merged');
    // Meanwhile a remote-mode reader resolves the leaves on the server.
    const reader = device(user, 'remote');
    expect(await reader.store.get('k')).toBe('A+C');
    off();
    await local.sync.waitForPush({ timeout: 20_000 });
    await sleep(500);
    expect(await couch.conflicts('k')).toEqual([]);
    expect([await local.store.get('k'), await reader.store.get('k'), await device(user, 'remote').store.get('k')]).toEqual(['A+C', 'A+C', 'A+C']);
    expect([...merges(local.events), ...merges(reader.events)].filter((m) => !m.endsWith('→A+C'))).toEqual([]);
  }, 40_000);

  it('a new device whose first pull brings leaves in conflict resolves them (it kept CouchDB’s winner until the next change)', async () => {
    const user = uniqueUser('merge-first-pull');
    const couch = await server(user);
    await couch.leaves('k', 'A', 'C');
    const fresh = device(user, 'local-first');
    await fresh.ready();
    await waitFor(async () => (await fresh.store.get('k')) === 'A+C', 10_000, 'the new device merged');
    await fresh.sync.waitForPush({ timeout: 10_000 });
    await waitFor(async () => (await couch.conflicts('k')).length === 0, 10_000, 'no conflict left on the server');
  });

  it('leaves holding the same value: the resolver is not asked, the leaves are gone', async () => {
    const user = uniqueUser('merge-equal');
    const couch = await server(user);
    await couch.leaves('k', 'same', 'same');
    calls.length = 0;
    const reader = device(user, 'remote');
    expect(await reader.store.get('k')).toBe('same');
    expect(calls).toEqual([]);
    expect(await couch.conflicts('k')).toEqual([]);
  });
});
