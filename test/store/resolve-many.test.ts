/**
 * Remote mode: writes over many documents this client never read (e.g. `removeParts` or `setParts(…, { replace })`
 * over parts another device wrote) meet versions they did not see. They are resolved together — one `_all_docs` read
 * per 50 documents, the resolver for each, one `_bulk_docs` — not with a read and a write per document (2,404 requests
 * for 1,200 parts before). The outcome is the one the resolver gives each document, exactly as one at a time: these
 * tests pin it down, including a document that changes again between the read and the write.
 */
import { describe, expect, it } from 'vitest';
import type { ConflictResolver } from '@feat/sdk';
import { uniqueUser, useEmulator } from '../support/backend.js';
import { clientsOf, modes } from './helpers.js';

const emu = useEmulator();
const client = clientsOf(emu, modes[0]);

const partsOf = (n: number, f: (i: number) => unknown) =>
  Object.fromEntries(Array.from({ length: n }, (_, i) => [`p${String(i).padStart(3, '0')}`, f(i)]));
const count = (lines: string[], re: RegExp) => lines.filter((l) => re.test(l)).length;

describe('remote mode: resolving many unseen versions together', () => {
  it('removeParts over 120 parts another client wrote: every part gone, in a few requests, one conflict event per part', async () => {
    const user = uniqueUser('many-rm');
    const a = client(user);
    await a.store.setParts('doc', partsOf(120, (i) => ({ i })));
    const b = client(user);
    const events: { key: string; localDeleted: boolean; remote: unknown }[] = [];
    b.sync.on('conflict', (c) => events.push({ key: c.key, localDeleted: c.local.deleted, remote: c.remote.value }));
    await b.ready();
    const before = b.wire.lines.length;
    await b.store.removeParts('doc');
    const lines = b.wire.lines.slice(before);
    expect(await a.store.getParts('doc')).toEqual({});
    expect(await b.store.getParts('doc')).toEqual({});
    // A list of the parts, the blind deletions (409 each), 3 reads of 50, 3 writes: never a request per part.
    expect(lines.length).toBeLessThanOrEqual(12);
    expect(count(lines, /_all_docs/)).toBeLessThanOrEqual(4);
    expect(count(lines, /^(GET|PUT|DELETE) \/[^/]+\/(?!_)/)).toBe(0); // no request names a document
    expect(events).toHaveLength(120);
    expect(events.every((e) => e.localDeleted && typeof (e.remote as { i?: unknown }).i === 'number')).toBe(true);
  });

  it("the resolver decides per part: a merge, the server's value, or the app's, each written as decided", async () => {
    const user = uniqueUser('many-decide');
    const a = client(user);
    await a.store.setParts('doc', partsOf(60, (i) => ({ i, by: 'a' })));
    // Parts 0, 3, 6, …: keep the server's; 1, 4, …: merge; 2, 5, …: the app's own value.
    const onConflict: ConflictResolver = ({ local, remote }) => {
      const i = (remote.value as { i: number }).i;
      if (i % 3 === 0) return remote.value;
      if (i % 3 === 1) return { ...(remote.value as object), ...(local.value as object), merged: true };
      return local.value;
    };
    const b = client(user, { onConflict });
    await b.store.setParts('doc', partsOf(60, (i) => ({ i, by: 'b' })), { replace: true });
    const stored = await a.store.getParts<{ i: number; by: string; merged?: boolean }>('doc');
    expect(Object.keys(stored)).toHaveLength(60);
    for (const [subkey, value] of Object.entries(stored)) {
      const i = Number(subkey.slice(1));
      if (i % 3 === 0) expect(value, subkey).toEqual({ i, by: 'a' });
      else if (i % 3 === 1) expect(value, subkey).toEqual({ i, by: 'b', merged: true });
      else expect(value, subkey).toEqual({ i, by: 'b' });
    }
    // What b wrote (the app's own value) it now knows: writing it again is no conflict.
    const before = b.wire.lines.length;
    await b.store.setParts('doc', { p002: { i: 2, by: 'b', again: true } });
    expect(count(b.wire.lines.slice(before), /_all_docs\?.*include_docs|^GET \/[^/]+\/doc/)).toBe(0);
    expect(await a.store.getParts('doc')).toMatchObject({ p002: { i: 2, by: 'b', again: true } });
  });

  it('a part written again by another client between the read and the write is resolved against that newer version', async () => {
    const user = uniqueUser('many-race');
    const a = client(user);
    await a.store.setParts('doc', partsOf(10, (i) => ({ i, v: 1 })));
    const seen: { i: number; v: number }[] = [];
    let raced = false;
    // Keeps whichever side is newer by `v`; while deciding part 4 the first time, client a writes it again (v: 3).
    const onConflict: ConflictResolver = async ({ local, remote }) => {
      const r = remote.value as { i: number; v: number };
      seen.push(r);
      if (r.i === 4 && !raced) {
        raced = true;
        await a.store.setParts('doc', { p004: { i: 4, v: 3 } });
      }
      return (local.value as { v: number }).v >= r.v ? local.value : remote.value;
    };
    const b = client(user, { onConflict });
    await b.store.setParts('doc', partsOf(10, (i) => ({ i, v: 2 })), { replace: true });
    const stored = await a.store.getParts<{ i: number; v: number }>('doc');
    for (let i = 0; i < 10; i++) expect(stored[`p00${i}`], `part ${i}`).toEqual({ i, v: i === 4 ? 3 : 2 });
    // Part 4 went to the resolver twice: first against v1, then (its write refused) against a's v3.
    expect(seen.filter((s) => s.i === 4)).toEqual([{ i: 4, v: 1 }, { i: 4, v: 3 }]);
  });

  it('parts deleted or re-created meanwhile, and a failing resolver for one part, settle each on its own', async () => {
    const user = uniqueUser('many-mixed');
    const a = client(user);
    await a.store.setParts('doc', partsOf(8, (i) => i));
    await a.store.remove('doc:p001');
    await a.store.remove('doc:p002');
    await a.store.setParts('doc', { p002: 'back' });
    const onConflict: ConflictResolver = ({ key, local }) => {
      if (key === 'doc:p005') throw new Error('resolver refuses p005');
      return local.value;
    };
    const b = client(user, { onConflict });
    const result = b.store.setParts('doc', partsOf(8, (i) => `b${i}`), { replace: true });
    await expect(result).rejects.toMatchObject({ code: 'conflict', key: 'doc:p005' });
    const stored = await a.store.getParts('doc');
    expect(stored).toEqual({ p000: 'b0', p001: 'b1', p002: 'b2', p003: 'b3', p004: 'b4', p005: 5, p006: 'b6', p007: 'b7' });
  });
});
