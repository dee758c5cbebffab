/**
 * `store.find()`: Mango over the values' own fields, in both modes, against the emulator.
 */
import { describe, expect, it } from 'vitest';
import { expectCode, text, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { clientsOf, modes } from '../store/helpers.js';
import { couch } from '../emulator/helpers.js';
import { userDbName } from '@feat/emulator';

const emu = useEmulator();

type Todo = { title: string; done: boolean; prio: number; tags?: string[] };

describe.each(modes)('store.find: $name', (mode) => {
  const client = clientsOf(emu, mode);

  it('matches on the value’s fields; parts match as their own value; no doc. or metadata in sight', async () => {
    const c = client(uniqueUser());
    await c.ready();
    await c.store.setParts('todo', {
      a: { title: 'a', done: false, prio: 3, tags: ['x'] },
      b: { title: 'b', done: true, prio: 5 },
      c: { title: 'c', done: false, prio: 1 },
      'd:1': { title: 'd', done: false, prio: 4, tags: ['x', 'y'] },
    });
    await c.store.set('other', { title: 'o', done: false, prio: 9 });
    const open = await c.store.find<Todo>({ prefix: 'todo', selector: { done: false, prio: { $gte: 3 } } });
    expect(open).toEqual([
      { key: 'todo', subkey: 'a', value: { title: 'a', done: false, prio: 3, tags: ['x'] } },
      { key: 'todo', subkey: 'd:1', value: { title: 'd', done: false, prio: 4, tags: ['x', 'y'] } },
    ]);
    // Without a prefix: every key, the other one too.
    expect((await c.store.find({ selector: { prio: { $gt: 4 } } })).map((r) => r.value)).toEqual([
      { title: 'o', done: false, prio: 9 },
      { title: 'b', done: true, prio: 5 },
    ]);
    const ops = await c.store.find<Todo>({ prefix: 'todo', selector: { $or: [{ tags: { $elemMatch: { $eq: 'y' } } }, { title: { $regex: '^b' } }] } });
    expect(ops.map((r) => r.value.title)).toEqual(['b', 'd']);
    expect((await c.store.find<Todo>({ prefix: 'todo', selector: { tags: { $size: 1 }, prio: { $in: [3, 4] } } })).map((r) => r.value.title)).toEqual(['a']);
    expect((await c.store.find<Todo>({ prefix: 'todo', selector: { $nor: [{ done: true }, { tags: { $exists: true } }] } })).map((r) => r.value.title)).toEqual(['c']);
    // Metadata is not a field of the value: nothing matches it.
    expect(await c.store.find({ selector: { updatedAt: { $exists: true } } })).toEqual([]);
    expect(await c.store.find({ selector: { 'feat.updatedAt': { $exists: true } } })).toEqual([]);
  });

  it('sorts (creating the index it needs), with limit and skip; no limit means every match, never 25', async () => {
    const c = client(uniqueUser());
    await c.ready();
    const parts: Record<string, Todo> = {};
    for (let i = 0; i < 60; i++) parts[`t${String(i).padStart(2, '0')}`] = { title: `t${i}`, done: i % 2 === 0, prio: (i * 7) % 60 };
    await c.store.setParts('list', parts);
    const all = await c.store.find<Todo>({ prefix: 'list' });
    expect(all).toHaveLength(60);
    const sorted = await c.store.find<Todo>({ prefix: 'list', selector: { done: false }, sort: [{ prio: 'desc' }] });
    expect(sorted).toHaveLength(30);
    expect(sorted.map((r) => r.value.prio)).toEqual([...sorted.map((r) => r.value.prio)].sort((a, b) => b - a));
    const page = await c.store.find<Todo>({ prefix: 'list', sort: ['prio'], skip: 5, limit: 10 });
    expect(page.map((r) => r.value.prio)).toEqual([5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
    expect(await c.store.find({ prefix: 'list', limit: 0 })).toEqual([]);
    // Mixed directions (API.md's `['prio', { updatedAt: 'desc' }]`): sorted by the SDK, window included.
    const mixed = await c.store.find<Todo>({ prefix: 'list', sort: ['done', { prio: 'desc' }], skip: 1, limit: 4 });
    const expected = Object.values(parts)
      .sort((a, b) => Number(a.done) - Number(b.done) || b.prio - a.prio)
      .slice(1, 5);
    expect(mixed.map((r) => r.value)).toEqual(expected);
    // …with this client's write not stored yet taking its place.
    void c.store.set('list:zz', { title: 'zz', done: false, prio: 99 });
    expect((await c.store.find<Todo>({ prefix: 'list', sort: ['done', { prio: 'desc' }], limit: 1 }))[0]?.value.title).toBe('zz');
    // Idempotent index creation.
    await c.store.createIndex({ fields: ['prio'] });
    await c.store.createIndex({ fields: ['prio'] });
    expect(await c.store.find<Todo>({ prefix: 'list', selector: { prio: { $lt: 2 } }, sort: ['prio'] })).toHaveLength(2);
  });

  it('an expired value never matches; a chunked value matches on its real fields', async () => {
    const c = client(uniqueUser(), { maxDocumentBytes: 70_000 });
    await c.ready();
    await c.store.set('n:kept', { kind: 'note', n: 2 });
    await c.store.set('n:big', { kind: 'note', n: 3, body: text(20_000) });
    await c.store.set('n:bigother', { kind: 'other', n: 4, body: text(20_000, 2) });
    await c.store.set('n:short', { kind: 'note', n: 1 }, { ttl: 3_000 });
    const found = await c.store.find<{ n: number }>({ prefix: 'n', selector: { kind: 'note' } });
    expect(found.map((r) => r.value.n)).toEqual([3, 2, 1]);
    expect(found[0]!.value).toMatchObject({ body: text(20_000) });
    const sorted = await c.store.find<{ n: number }>({ prefix: 'n', selector: { kind: 'note' }, sort: [{ n: 'desc' }], limit: 2 });
    expect(sorted.map((r) => r.value.n)).toEqual([3, 2]);
    let after: number[] = [];
    await waitFor(async () => {
      after = (await c.store.find<{ n: number }>({ prefix: 'n', selector: { kind: 'note' } })).map((r) => r.value.n);
      return after.length < 3;
    }, 15_000, 'the ttl value to expire');
    expect(after).toEqual([3, 2]);
  });

  it("sees this client's own writes not stored yet, as get() does", async () => {
    const c = client(uniqueUser(), {}, (line) => (line.includes('_bulk_docs') ? 300 : 0));
    await c.ready();
    await c.store.setParts('w', { a: { n: 1 }, b: { n: 2 }, c: { n: 3 } });
    const writes = [c.store.set('w:d', { n: 4 }), c.store.remove('w:a'), c.store.set('w:b', { n: 0 })];
    expect((await c.store.find<{ n: number }>({ prefix: 'w', sort: ['n'] })).map((r) => `${r.subkey}=${r.value.n}`)).toEqual(['b=0', 'c=3', 'd=4']);
    expect((await c.store.find<{ n: number }>({ prefix: 'w', selector: { n: { $gt: 0 } }, limit: 1, skip: 1 })).map((r) => r.subkey)).toEqual(['d']);
    await Promise.all(writes);
    expect((await c.store.find<{ n: number }>({ prefix: 'w', sort: ['n'] })).map((r) => `${r.subkey}=${r.value.n}`)).toEqual(['b=0', 'c=3', 'd=4']);
  });

  it('a conflicted value matches by its winning value (the one get() reads)', async () => {
    const user = uniqueUser();
    const c = client(user);
    await c.ready();
    // Two leaf revisions of one key on the server (as two devices' offline edits leave them).
    const docs = [
      { _id: 'cf:1', _rev: '1-aaaa', doc: { side: 'a', open: true }, feat: { updatedAt: 1 } },
      { _id: 'cf:1', _rev: '1-bbbb', doc: { side: 'b', open: false }, feat: { updatedAt: 1 } },
    ];
    const put = await couch(emu, user, `/${userDbName(user)}/_bulk_docs`, { method: 'POST', body: { docs, new_edits: false } });
    expect(put.status).toBe(201);
    let winner: unknown;
    await waitFor(async () => (winner = await c.store.get('cf:1')) !== undefined, 10_000, 'the conflicted key');
    const side = (winner as { side: string }).side;
    const found = await c.store.find<{ side: string }>({ prefix: 'cf', selector: { side } });
    expect(found.map((r) => r.value.side)).toEqual([side]);
    expect(await c.store.find({ prefix: 'cf', selector: { side: side === 'a' ? 'b' : 'a' } })).toEqual([]);
  });

  it('values under keys in any script are found, with and without a prefix (no index, and on an index)', async () => {
    const c = client(uniqueUser());
    await c.ready();
    const keys = ['plain', 'été', 'Ωmega', 'Жук', '日本', '😀', '\uff01bang', '\ue000pua'];
    await Promise.all(keys.map((key, n) => c.store.set(key, { n })));
    const sorted = [...keys].sort();
    const found = async (q: Parameters<typeof c.store.find>[0]) => (await c.store.find<{ n: number }>(q, { onWarning: () => undefined })).map((r) => r.key).sort();
    expect(await found({ selector: { n: { $gte: 0 } } })).toEqual(sorted);
    expect(await found({})).toEqual(sorted);
    expect(await found({ prefix: '日' })).toEqual(['日本']);
    expect(await found({ prefix: '😀', selector: { n: { $gte: 0 } } })).toEqual(['😀']);
    expect(await found({ selector: { n: { $gte: 0 } }, limit: 3 })).toHaveLength(3);
    expect(await found({ selector: { n: { $gte: 0 } }, sort: ['n'] })).toEqual(sorted);
  });

  it("an object or array as a field's condition means what CouchDB makes of it (nested fields, equality), beside values holding null or scalars there", async () => {
    const c = client(uniqueUser());
    await c.ready();
    await c.store.setParts('n', {
      a: { meta: { kind: 'x', level: 2 }, tags: ['p', 'q'] },
      b: { meta: null, tags: null },
      c: { meta: 'plain', tags: 'p' },
      d: { meta: { kind: 'y' }, tags: ['q', 'p'] },
      e: { meta: { kind: 'x', level: 1, deep: { on: true } }, tags: [] },
      f: { meta: {}, tags: [['p', 'q']] },
    });
    const found = async (selector: Record<string, unknown>, index?: string[]) => {
      if (index) await c.store.createIndex({ fields: index });
      return (await c.store.find({ prefix: 'n', selector }, { onWarning: () => undefined })).map((r) => r.subkey).join(',');
    };
    for (const index of [undefined, ['meta.kind'], ['tags']]) {
      expect(await found({ meta: { kind: 'x' } }, index), `nested, index ${String(index)}`).toBe('a,e');
      expect(await found({ meta: { kind: 'x', level: { $gt: 1 } } }, index), `{ meta: { kind: 'x', level: { $gt: 1 } } }, index ${String(index)}`).toBe('a');
      expect(await found({ meta: { deep: { on: true } } }, index), `{ meta: { deep: { on: true } } }, index ${String(index)}`).toBe('e');
      expect(await found({ meta: { $type: 'object', kind: { $exists: false } } }, index), `{ meta: { $type: 'object', kind: { $exists: false } } }, index ${String(index)}`).toBe('f');
      expect(await found({ meta: {} }, index), `{ meta: {} }, index ${String(index)}`).toBe('f');
      expect(await found({ tags: ['p', 'q'] }, index), `array equality, index ${String(index)}`).toBe('a');
      expect(await found({ tags: [] }, index), `{ tags: [] }, index ${String(index)}`).toBe('e');
      expect(await found({ 'meta.kind': 'x', meta: { level: 1 } }, index), `{ 'meta.kind': 'x', meta: { level: 1 } }, index ${String(index)}`).toBe('e');
    }
    const live: string[] = [];
    const stop = c.store.watchQuery({ prefix: 'n', selector: { meta: { kind: 'y' } } }, (rows) => live.push(rows.map((r) => r.subkey).join(',')));
    await waitFor(() => live.at(-1) === 'd');
    await c.store.setParts('n', { b: { meta: { kind: 'y' } } });
    await waitFor(() => live.at(-1) === 'b,d');
    stop();
  });

  it('a malformed query is invalid_argument before any request', async () => {
    const c = client(uniqueUser());
    await c.ready();
    const before = c.wire.lines.length;
    const bad: unknown[] = [
      null,
      { selector: { a: { $nonsense: 1 } } },
      { selector: { $gt: 1 } },
      { selector: { a: { $in: 1 } } },
      { selector: { a: { $regex: '(' } } },
      { selector: { a: { $size: -1 } } },
      { selector: { $or: [] } },
      { selector: [] },
      { limit: -1 },
      { skip: 1.5 },
      { sort: [{ a: 'up' }] },
      { prefix: 3 },
      { where: {} },
    ];
    for (const q of bad) await expectCode(c.store.find(q as never), 'invalid_argument');
    expect(() => c.store.watchQuery({ selector: { a: { $nope: 1 } } }, () => undefined)).toThrow(/\$nope/);
    await expectCode(c.store.createIndex({ fields: [] }), 'invalid_argument');
    expect(c.wire.lines.slice(before).filter((l) => /_find|_index/.test(l))).toEqual([]);
  });

  it('signal: not a signal → invalid_argument, aborted before → aborted with its reason and no request; aborted during → aborted at once', async () => {
    const c = client(uniqueUser());
    await c.ready();
    await c.store.set('k', { n: 1 });
    const before = c.wire.lines.length;
    await expectCode(c.store.find({}, { signal: 'stop' as never }), 'invalid_argument');
    const reason = new Error('user left the page');
    const error = await expectCode(c.store.find({}, { signal: AbortSignal.abort(reason) }), 'aborted');
    expect(error.cause).toBe(reason);
    expect(c.wire.lines.slice(before).filter((l) => /_find|_index/.test(l))).toEqual([]);
    const controller = new AbortController();
    const pending = c.store.find({ selector: { n: 1 } }, { signal: controller.signal });
    controller.abort();
    await expectCode(pending, 'aborted');
    // The client goes on working.
    expect(await c.store.find({ selector: { n: 1 } })).toEqual([{ key: 'k', value: { n: 1 } }]);
  });
});

describe('store.find, remote: pages and warnings', () => {
  const client = clientsOf(emu, modes[0]);

  it('follows bookmark pages: 2,500 matches in 3 requests; a warning reaches onWarning', async () => {
    const c = client(uniqueUser());
    await c.ready();
    const parts: Record<string, { i: number; even: boolean }> = {};
    for (let i = 0; i < 2_600; i++) parts[String(i).padStart(4, '0')] = { i, even: i < 2_500 };
    await c.store.setParts('p', parts);
    const warnings: string[] = [];
    const before = c.wire.lines.length;
    const found = await c.store.find<{ i: number }>({ prefix: 'p', selector: { even: true } }, { onWarning: (w) => warnings.push(w) });
    expect(found).toHaveLength(2_500);
    expect(new Set(found.map((r) => r.value.i)).size).toBe(2_500);
    const finds = c.wire.lines.slice(before).filter((l) => l.includes('/_find'));
    // One for the (empty) manifests of chunked values, three pages of 1,000.
    expect(finds).toHaveLength(4);
    expect(warnings.join('\n')).toMatch(/No matching index found/);
  });

  it('a query that examines many documents per result: CouchDB\'s second warning reaches onWarning too (more than 10 per result)', async () => {
    const c = client(uniqueUser());
    await c.ready();
    const parts: Record<string, { i: number }> = {};
    for (let i = 0; i < 40; i++) parts[String(i).padStart(2, '0')] = { i };
    await c.store.setParts('w', parts);
    const warnings: string[] = [];
    const found = await c.store.find<{ i: number }>({ prefix: 'w', selector: { i: 7 } }, { onWarning: (w) => warnings.push(w) });
    expect(found.map((r) => r.value.i)).toEqual([7]);
    const all = warnings.join('\n');
    expect(all).toMatch(/No matching index found/);
    expect(all).toMatch(/The number of documents examined is high in proportion to the number of results returned\. Consider adding a more specific index to improve this\./);
    // Few examined per result: no second warning.
    const few: string[] = [];
    await c.store.find({ prefix: 'w', selector: { i: { $gte: 0 } } }, { onWarning: (w) => few.push(w) });
    expect(few.join('\n')).not.toMatch(/high in proportion/);
  });
});

describe('store.find, remote: aborted while a page is on its way', () => {
  const client = clientsOf(emu, modes[0]);

  it('rejects with aborted at once and asks for no further page', async () => {
    const c = client(uniqueUser(), {}, (line) => (line.includes('/_find') ? 1_500 : 0));
    await c.ready();
    const parts: Record<string, { i: number }> = {};
    for (let i = 0; i < 1_200; i++) parts[String(i).padStart(4, '0')] = { i };
    await c.store.setParts('p', parts);
    const before = c.wire.lines.length;
    const controller = new AbortController();
    const started = Date.now();
    const pending = c.store.find({ prefix: 'p', selector: { i: { $gte: 0 } } }, { signal: controller.signal });
    setTimeout(() => controller.abort(), 200);
    await expectCode(pending, 'aborted');
    expect(Date.now() - started).toBeLessThan(1_000);
    // Past the held first pages: a second page (1,200 matches, 1,000 per page) was never asked for.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const finds = c.wire.lines.slice(before).filter((l) => l.includes('/_find'));
    expect(finds.length).toBeLessThanOrEqual(2);
    expect(finds.every((l) => !l.includes('bookmark'))).toBe(true);
  });
});

describe('store.find on the replica: chunked values that come later', () => {
  const local = clientsOf(emu, modes[1]);
  const remote = clientsOf(emu, modes[0]);

  it('a chunked value written or replicated after a query is found by the next one', async () => {
    const user = uniqueUser();
    const a = local(user, { maxDocumentBytes: 70_000 });
    await a.ready();
    await a.store.set('n:small', { kind: 'note', n: 1 });
    // The replica has no chunked value yet: this query reads (and remembers) no manifest.
    expect((await a.store.find<{ n: number }>({ prefix: 'n', selector: { kind: 'note' } })).map((r) => r.value.n)).toEqual([1]);
    await a.store.set('n:big', { kind: 'note', n: 2, body: text(20_000) });
    expect((await a.store.find<{ n: number }>({ prefix: 'n', selector: { kind: 'note' } })).map((r) => r.value.n)).toEqual([2, 1]);
    const b = remote(user, { maxDocumentBytes: 70_000 });
    await b.ready();
    await b.store.set('n:from-b', { kind: 'note', n: 3, body: text(20_000, 3) });
    await waitFor(async () => (await a.store.get('n:from-b')) !== undefined, 15_000, 'the other device’s value to replicate');
    expect((await a.store.find<{ n: number }>({ prefix: 'n', selector: { kind: 'note' } })).map((r) => r.value.n)).toEqual([2, 3, 1]);
  });
});

describe('index design documents replicate (local-first)', () => {
  const local = clientsOf(emu, modes[1]);
  const remote = clientsOf(emu, modes[0]);

  it("an index made on the replica reaches the server (and the user's other devices), where _find uses it", async () => {
    const user = uniqueUser();
    const a = local(user);
    await a.ready();
    await a.store.setParts('s', { x: { n: 2 }, y: { n: 1 } });
    await a.store.createIndex({ fields: ['n'] });
    await a.sync.waitForPush({ timeout: 10_000 });
    const listed = (await couch(emu, user, `/${userDbName(user)}/_index`)).json as { indexes: { def: { fields: Record<string, string>[] } }[] };
    expect(listed.indexes.map((i) => i.def.fields.map((f) => Object.keys(f)[0]).join(','))).toContain('doc.n');
    const b = remote(user);
    await b.ready();
    const before = b.wire.lines.length;
    const warnings: string[] = [];
    expect((await b.store.find<{ n: number }>({ prefix: 's', selector: { n: { $gt: 0 } }, sort: ['n'] }, { onWarning: (w) => warnings.push(w) })).map((r) => r.value.n)).toEqual([1, 2]);
    // The sort's index was there already: created "exists" (one _index request), no 400.
    expect(b.wire.lines.slice(before).filter((l) => l.includes('/_index'))).toHaveLength(2);
    expect(warnings).toEqual([]);
  });
});
