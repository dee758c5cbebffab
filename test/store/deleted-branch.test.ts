/**
 * A removal on another branch: a local-first device deleted the key offline while another client wrote it earlier.
 * CouchDB's winner is the live leaf (a live leaf always beats a deleted one), and it never lists deleted leaves in
 * `_conflicts`. README (Conflicts): a deleted leaf newer than every live one takes part, and in remote mode such leaves
 * are resolved when the key is read. A remote read must show the key removed, as a local-first device does — and a
 * document whose deleted leaves are only the losers an earlier resolution deleted costs no more requests than one read.
 * Also: another app's document without a value is no key (`keys()` agrees with `get()`).
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClient } from '@feat/sdk';
import { uniqueUser, useEmulator, waitFor } from '../support/backend.js';

const emu = useEmulator();
const H = (n: number) => n.toString(16).padStart(32, '0');

async function server(user: string) {
  const token = await fetch(`${emu.accountsUrl.replace(/\/+$/, '')}/couchdb/token/`, { headers: { Authorization: emu.bearerFor(user) } });
  const { data } = (await token.json()) as { data: { headers: Record<string, string>; dbname: string } };
  const url = `${emu.couchUrl.replace(/\/+$/, '')}/${data.dbname}`;
  return {
    async bulk(docs: object[]) {
      const r = await fetch(`${url}/_bulk_docs`, {
        method: 'POST',
        headers: { ...data.headers, 'Content-Type': 'application/json' },
        body: JSON.stringify({ docs, new_edits: false }),
      });
      expect(r.status).toBe(201);
    },
    async leaves(id: string) {
      const r = await fetch(`${url}/${id}?open_revs=all`, { headers: { ...data.headers, Accept: 'application/json' } });
      return ((await r.json()) as { ok?: { _rev: string; _deleted?: boolean } }[]).flatMap((l) => (l.ok ? [l.ok] : []));
    },
  };
}

function remote(user: string, requests?: string[]): FeatClient {
  return emu.track(
    createFeatClient({
      couchUrl: emu.couchUrl,
      accountsUrl: emu.accountsUrl,
      auth: emu.bearerFor(user),
      mode: 'remote',
      ...(requests
        ? {
            fetch: (input: RequestInfo | URL, init?: RequestInit) => {
              const u = new URL(input instanceof Request ? input.url : String(input));
              if (u.pathname.includes('/k')) requests.push(`${init?.method ?? (input instanceof Request ? input.method : 'GET')} ${u.search}`);
              return fetch(input, init);
            },
          }
        : {}),
    }),
  );
}

/** k = 'b' written at `t` (generation 2); on another branch, edited then removed at `t + 1000` (generation 4). */
const laterRemoval = (t: number) => [
  { _id: 'k', _rev: `2-${H(2)}`, doc: { v: 'b' }, feat: { updatedAt: t }, _revisions: { start: 2, ids: [H(2), H(1)] } },
  { _id: 'k', _rev: `4-${H(4)}`, _deleted: true, feat: { updatedAt: t + 1000 }, _revisions: { start: 4, ids: [H(4), H(3), H(5), H(1)] } },
];

describe('remote mode: a removal on another branch', () => {
  it('a removal written later than the live leaf: get() reads the key as removed, and keys() then leaves it out', async () => {
    const user = uniqueUser('delbranch');
    await emu.createUser(user);
    const s = await server(user);
    await s.bulk(laterRemoval(Date.now() - 10_000));
    const c = remote(user);
    expect(await c.store.get('k')).toBeUndefined();
    // Resolved on the server: no live leaf is left, so every reader (keys(), another client) agrees.
    expect((await s.leaves('k')).filter((l) => !l._deleted)).toEqual([]);
    expect(await c.store.keys()).toEqual([]);
    expect(await remote(user).store.get('k')).toBeUndefined();
  });

  it('a removal older than the live leaf: the value stays, and the resolver is not asked', async () => {
    const user = uniqueUser('delbranch');
    await emu.createUser(user);
    const s = await server(user);
    const t = Date.now() - 10_000;
    await s.bulk([
      { _id: 'k', _rev: `2-${H(2)}`, doc: { v: 'b' }, feat: { updatedAt: t + 1000 }, _revisions: { start: 2, ids: [H(2), H(1)] } },
      { _id: 'k', _rev: `4-${H(4)}`, _deleted: true, feat: { updatedAt: t }, _revisions: { start: 4, ids: [H(4), H(3), H(5), H(1)] } },
    ]);
    const asked: unknown[] = [];
    const c = emu.track(
      createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote', onConflict: (x) => (asked.push(x), x.local.value) }),
    );
    expect(await c.store.get('k')).toEqual({ v: 'b' });
    expect(await c.store.keys()).toEqual(['k']);
    expect(asked).toEqual([]);
  });

  it('the same as a local-first device sees it', async () => {
    const user = uniqueUser('delbranch');
    await emu.createUser(user);
    const s = await server(user);
    await s.bulk(laterRemoval(Date.now() - 10_000));
    const device = emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'local-first', local: { adapter: 'memory' } }));
    await device.ready();
    await waitFor(async () => (await device.store.get('k')) === undefined, 20_000, 'the device resolved k');
    expect(await remote(user).store.get('k')).toBeUndefined();
  });

  it('another client resolves the leaves between the read and the resolution: get() reads the key as removed', async () => {
    const user = uniqueUser('delbranch');
    await emu.createUser(user);
    const s = await server(user);
    await s.bulk(laterRemoval(Date.now() - 10_000));
    let raced = false;
    const c = emu.track(
      createFeatClient({
        couchUrl: emu.couchUrl,
        accountsUrl: emu.accountsUrl,
        auth: emu.bearerFor(user),
        mode: 'remote',
        fetch: async (input: RequestInfo | URL, init?: RequestInit) => {
          const url = input instanceof Request ? input.url : String(input);
          if (!raced && url.includes('open_revs')) {
            raced = true;
            // A local-first device's pushed resolution lands first: the live leaf is deleted.
            await s.bulk([{ _id: 'k', _rev: `3-${H(7)}`, _deleted: true, feat: { updatedAt: Date.now() }, _revisions: { start: 3, ids: [H(7), H(2)] } }]);
          }
          return fetch(input, init);
        },
      }),
    );
    expect(await c.store.get('k')).toBeUndefined();
    expect(raced).toBe(true);
  });

  it('deleted leaves an earlier resolution left (the losers): each further read is one request', async () => {
    const user = uniqueUser('delbranch');
    await emu.createUser(user);
    const s = await server(user);
    const t = Date.now() - 10_000;
    // Two live leaves: reading resolves them (the loser gets deleted, a deleted leaf for good).
    await s.bulk([
      { _id: 'k', _rev: `1-${H(1)}`, doc: { v: 'old' }, feat: { updatedAt: t } },
      { _id: 'k', _rev: `1-${H(2)}`, doc: { v: 'new' }, feat: { updatedAt: t + 1000 } },
    ]);
    const requests: string[] = [];
    const c = remote(user, requests);
    expect(await c.store.get('k')).toEqual({ v: 'new' });
    expect((await s.leaves('k')).filter((l) => l._deleted).length).toBeGreaterThan(0);
    // A later read looks at those deleted leaves once (nothing later than the winner), then never again.
    await c.store.get('k');
    requests.length = 0;
    for (let i = 0; i < 3; i++) expect(await c.store.get('k')).toEqual({ v: 'new' });
    expect(requests.filter((r) => r.startsWith('GET'))).toHaveLength(3);
    expect(requests.some((r) => r.includes('open_revs'))).toBe(false);
  });
});

describe('another app\'s document without a value', () => {
  it('is no key: keys() leaves it out, as get() reads it as absent', async () => {
    const user = uniqueUser('novalue');
    await emu.createUser(user);
    const s = await server(user);
    await s.bulk([
      { _id: 'novalue', _rev: `1-${H(9)}`, title: 'x' },
      { _id: 'marker', _rev: `1-${H(8)}`, doc: 1, feat: { updatedAt: Date.now() } },
    ]);
    for (const mode of ['remote', 'local-first'] as const) {
      const c = emu.track(
        createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode, ...(mode === 'local-first' ? { local: { adapter: 'memory' } } : {}) }),
      );
      await c.ready();
      // Both documents came in one request: once the marker is here, so is the other.
      await waitFor(async () => (await c.store.get('marker')) === 1, 10_000, 'the marker');
      expect(await c.store.get('novalue')).toBeUndefined();
      expect(await c.store.keys()).toEqual(['marker']);
    }
  });
});
