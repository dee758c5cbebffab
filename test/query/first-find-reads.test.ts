/**
 * The first query on a replica that holds big values (chunked: most of its bytes) reads no chunk document but those of
 * the chunked values under the query's prefix (which it must reassemble to match them), and makes no index over the
 * whole replica. It used to make a Mango index of `feat.chunks` (to find the manifests), which pouchdb-find builds by
 * reading every document, chunks included: seconds before a new device's first answer in Chromium.
 *
 * What the replica reads is counted below its PouchDB API: the memory adapter, wrapped (an adapter the app registers
 * itself), records every document it hands out (`_get`, `_allDocs` with documents, `_changes` with documents).
 */
import PouchDB from 'pouchdb-core';
import MemoryAdapter from 'pouchdb-adapter-memory';
import { describe, expect, it } from 'vitest';
import { text, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { clientsOf, modes } from '../store/helpers.js';

const emu = useEmulator();
const CHUNK = 'feat~chunk~';

type Doc = { _id: string; feat?: { chunks?: string[] } };
type Cb = (error: unknown, result?: unknown) => void;
interface Internals {
  _get(id: string, opts: unknown, cb: Cb): void;
  _allDocs(opts: unknown, cb: Cb): void;
  _changes(opts: { onChange?: (change: { doc?: Doc }) => void }): unknown;
}

/** Every document the `counted` replicas handed out, while `recording`. */
const read: Doc[] = [];
let recording = false;
const note = (doc: Doc | null | undefined) => void (recording && doc && read.push(doc));

/** The memory adapter, recording what it reads. */
function CountedPouch(this: Internals, opts: unknown, callback: Cb): void {
  const memory = (PouchDB as unknown as { adapters: Record<string, (this: unknown, o: unknown, c: Cb) => void> }).adapters.memory!;
  memory.call(this, opts, callback);
  const { _get: get, _allDocs: allDocs, _changes: changes } = this;
  this._get = (id, o, cb) => get.call(this, id, o, (e, r) => (note((r as { doc?: Doc } | undefined)?.doc), cb(e, r)));
  this._allDocs = (o, cb) =>
    allDocs.call(this, o, (e, r) => {
      for (const row of (r as { rows?: { doc?: Doc }[] } | undefined)?.rows ?? []) note(row.doc);
      cb(e, r);
    });
  this._changes = (o) => {
    const onChange = o.onChange;
    return changes.call(this, { ...o, onChange: (change: { doc?: Doc }) => (note(change.doc), onChange?.(change)) });
  };
}
CountedPouch.valid = () => true;
CountedPouch.use_prefix = false;
PouchDB.plugin(MemoryAdapter);
(PouchDB as unknown as { adapter(name: string, ctor: unknown): void }).adapter('counted', CountedPouch);

describe('the first find on a replica with big values (local-first)', () => {
  const remote = clientsOf(emu, modes[0]);
  const local = clientsOf(emu, { ...modes[1], options: { mode: 'local-first', local: { adapter: 'counted' } } } as unknown as (typeof modes)[1]);

  it('reads only the chunks of the chunked values under its prefix, and makes no index', async () => {
    const user = uniqueUser('firstfind');
    const a = remote(user, { maxDocumentBytes: 70_000 });
    await a.ready();
    // Three big values elsewhere (chunked), one under the prefix that matches, one under it that does not.
    for (let i = 0; i < 3; i++) await a.store.set(`big:${i}`, { kind: 'note', n: 10 + i, body: text(60_000, 10 + i) });
    await a.store.set('n:big', { kind: 'note', n: 3, body: text(20_000) });
    await a.store.set('n:bigother', { kind: 'other', n: 4, body: text(20_000, 2) });
    for (let i = 0; i < 20; i++) await a.store.set(`n:small${i}`, { kind: i % 2 ? 'note' : 'other', n: 100 + i });

    const b = local(user, { maxDocumentBytes: 70_000 });
    await b.ready();
    await waitFor(async () => (await b.store.keys('n:')).length === 22, 15_000, 'the account on the replica');
    recording = true;
    const found = await b.store.find<{ n: number; body?: string }>({ prefix: 'n:', selector: { kind: 'note' } }, { onWarning: () => undefined });
    recording = false;

    // The chunked value under the prefix that matches is found (its manifest, then its chunks).
    expect(found.map((r) => r.value.n).sort((x, y) => x - y)).toEqual([3, 101, 103, 105, 107, 109, 111, 113, 115, 117, 119]);
    expect(found.find((r) => r.key === 'n:big')!.value.body).toBe(text(20_000));
    const manifests = read.filter((d) => d._id.startsWith('n:') && d.feat?.chunks);
    const allowed = new Set(manifests.flatMap((d) => d.feat!.chunks!));
    expect(new Set(manifests.map((d) => d._id))).toEqual(new Set(['n:big', 'n:bigother']));
    const chunks = read.filter((d) => d._id.startsWith(CHUNK));
    expect(chunks.length).toBeGreaterThan(0);
    expect(chunks.filter((d) => !allowed.has(d._id)).map((d) => d._id), 'chunks of values outside the prefix').toEqual([]);
    // Nothing outside the prefix was read (the big values' manifests included), and no index was made (pouchdb-find
    // reads the design documents to plan: an index would be one).
    expect(read.filter((d) => !d._id.startsWith('n:') && !d._id.startsWith(CHUNK)).map((d) => d._id)).toEqual([]);

    // A chunked value replicated later under the prefix is found by the next query, as one that stops being chunked
    // (the manifests read are kept up to date from the replica's changes).
    await a.store.set('n:big2', { kind: 'note', n: 5, body: text(20_000, 5) });
    await a.store.set('n:big', { kind: 'note', n: 3 });
    await waitFor(async () => (await b.store.get<{ body?: string }>('n:big'))?.body === undefined && (await b.store.get('n:big2')) !== undefined, 15_000, 'the other device’s writes');
    const next = await b.store.find<{ n: number }>({ prefix: 'n:', selector: { kind: 'note' } }, { onWarning: () => undefined });
    expect(next.map((r) => r.value.n).sort((x, y) => x - y)).toEqual([3, 5, 101, 103, 105, 107, 109, 111, 113, 115, 117, 119]);

    // More changes since than the catch-up reads (2,000): the prefix is read whole again, with the same answer.
    await Promise.all(Array.from({ length: 2_100 }, (_, i) => a.store.set(`m:${i}`, i)));
    await a.store.set('n:big2', { kind: 'note', n: 6 });
    await waitFor(async () => (await b.store.get<{ n: number }>('n:big2'))?.n === 6 && (await b.store.get('m:2099')) === 2_099, 60_000, 'the many writes');
    const after = await b.store.find<{ n: number }>({ prefix: 'n:', selector: { kind: 'note' } }, { onWarning: () => undefined });
    expect(after.map((r) => r.value.n).sort((x, y) => x - y)).toEqual([3, 6, 101, 103, 105, 107, 109, 111, 113, 115, 117, 119]);
  }, 120_000);
});
