/**
 * A merging resolver whose result is too big for one document: the merge is chunked like any big value, so it reaches
 * the server (local-first) or is written there (remote mode) — never one plain document refused with `too_large`.
 */
import { describe, expect, it } from 'vitest';
import { type Conflict, type FeatError } from '@feat/sdk';
import { createFeatApi } from '@feat/sdk/api';
import { clientIn, text, uniqueUser, useEmulator, waitFor } from '../support/backend.js';

const emu = useEmulator();

type Obj = Record<string, string>;
const mergeObjects = (c: Conflict): Obj | undefined =>
  c.local.deleted && c.remote.deleted ? undefined : { ...((c.remote.value as Obj) ?? {}), ...((c.local.value as Obj) ?? {}) };

function device(user: string, mode: 'remote' | 'local-first') {
  const errors: FeatError[] = [];
  // (Scheduled maintenance as an app has it.)
  const c = clientIn(emu, user, mode, { onConflict: mergeObjects, maintenance: { enabled: true } });
  c.sync.on('error', (e) => errors.push(e));
  return Object.assign(c, { errors });
}

const fa = text(600_000, 7);
const fb = text(600_000, 9);

describe('a merge bigger than one document', () => {
  it('local-first: two devices add a 600 KB field each offline; the 1.2 MB merge reaches both devices and the server', async () => {
    const user = uniqueUser('bigmerge-lf');
    const a = device(user, 'local-first');
    const b = device(user, 'local-first');
    await Promise.all([a.ready(), b.ready()]);
    await a.store.set('doc', { base: 'x' });
    await a.sync.waitForPush({ timeout: 20_000 });
    await waitFor(async () => (await b.store.get<Obj>('doc'))?.base === 'x', 20_000, 'b has the base');
    a.sync.pause();
    b.sync.pause();
    await a.store.set('doc', { base: 'x', fa });
    await b.store.set('doc', { base: 'x', fb });
    a.sync.resume();
    b.sync.resume();
    const merged = (v: Obj | undefined) => v?.fa === fa && v?.fb === fb;
    await waitFor(async () => merged(await a.store.get<Obj>('doc')) && merged(await b.store.get<Obj>('doc')), 30_000, 'both devices hold the merge');
    await a.sync.waitForPush({ timeout: 15_000 });
    await b.sync.waitForPush({ timeout: 15_000 });
    expect(merged(await device(user, 'remote').store.get<Obj>('doc'))).toBe(true);
    expect([...a.errors, ...b.errors]).toEqual([]);
  }, 60_000);

  it('remote mode: a read resolving two 600 KB leaves on the server writes the 1.2 MB merge chunked', async () => {
    const user = uniqueUser('bigmerge-rm');
    const reader = device(user, 'remote');
    await reader.store.set('first', 1); // the database exists from the first write on
    const token = await createFeatApi({ apiUrl: emu.apiUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user) }).accounts.couchToken();
    const headers = { ...token.headers, 'Content-Type': 'application/json' };
    // Two leaves another client's replication left (one request each: both would not fit in one).
    for (const [rev, doc] of [['1-' + 'a'.repeat(32), { fa }], ['1-' + 'b'.repeat(32), { fb }]] as const) {
      const body = JSON.stringify({ new_edits: false, docs: [{ _id: 'doc', _rev: rev, doc, feat: { updatedAt: Date.now() } }] });
      expect((await fetch(`${emu.couchUrl}/${token.dbname}/_bulk_docs`, { method: 'POST', headers, body })).status).toBe(201);
    }
    expect(await reader.store.get<Obj>('doc')).toEqual({ fa, fb });
    expect(await device(user, 'remote').store.get<Obj>('doc')).toEqual({ fa, fb });
    expect(reader.errors).toEqual([]);
  }, 30_000);
});
