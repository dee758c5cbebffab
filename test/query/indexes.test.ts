/**
 * The client's `indexes` option: declared once, created idempotently where queries run (both modes) before the first
 * query; bad values are `invalid_argument` before any request; a failed creation reaches the app, never hangs.
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, FeatError, type FeatClientOptions } from '@feat/sdk';
import { userDbName } from '@feat/emulator';
import { expectCode, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { clientsOf, modes } from '../store/helpers.js';
import { couch } from '../emulator/helpers.js';

const emu = useEmulator();

type Todo = { title: string; done: boolean; prio: number };

const serverIndexes = async (user: string) =>
  ((await couch(emu, user, `/${userDbName(user)}/_index`)).json as { indexes: { ddoc: string | null; name: string; def: { fields: Record<string, string>[] } }[] }).indexes.map((i) => ({
    name: i.name,
    fields: i.def.fields.map((f) => Object.keys(f)[0]).join(','),
  }));

describe.each(modes)('indexes option: $name', (mode) => {
  const client = clientsOf(emu, mode);

  it('creates the declared indexes before the first query, once; a sort on their fields uses them', async () => {
    const user = uniqueUser();
    const indexes = [{ fields: ['prio'], name: 'by-prio' }, { fields: ['done', 'prio'] }];
    const c = client(user, { indexes });
    // The option is copied: a later change of the app's array changes nothing.
    indexes.push({ fields: ['title'], name: 'late' });
    await c.ready();
    const parts: Record<string, Todo> = {};
    for (let i = 0; i < 40; i++) parts[`t${i}`] = { title: `t${i}`, done: i % 4 === 0, prio: i % 10 };
    await c.store.setParts('todo', parts);
    const warnings: string[] = [];
    const found = await c.store.find<Todo>({ prefix: 'todo', selector: { prio: { $gte: 8 } } }, { onWarning: (w) => warnings.push(w) });
    expect(found).toHaveLength(8);
    // Served by the declared index: no full-scan warning (without it, the query warns: see the last test).
    expect(warnings).toEqual([]);
    const sorted = await c.store.find<Todo>({ prefix: 'todo', selector: { prio: { $lt: 2 } }, sort: [{ prio: 'desc' }] });
    expect(sorted.map((r) => r.value.prio)).toEqual([1, 1, 1, 1, 0, 0, 0, 0]);
    await c.store.createIndex({ fields: ['prio'] });
    if (mode.name === 'remote') {
      const lines = c.wire.lines;
      const firstFind = lines.findIndex((l) => l.includes('/_find'));
      const indexLines = lines.filter((l) => l.includes('/_index'));
      // Each declared index once (plus the chunk manifests' index), all before the first _find.
      expect(indexLines).toHaveLength(3);
      expect(lines.length - 1 - [...lines].reverse().findIndex((l) => l.includes('/_index'))).toBeLessThan(firstFind);
    } else {
      await c.sync.waitForPush({ timeout: 10_000 });
    }
    const onServer = await serverIndexes(user);
    // The named index serves the sort on its fields: no second index of `doc.prio`; the late entry was never made.
    expect(onServer.filter((i) => i.fields === 'doc.prio')).toEqual([{ name: 'by-prio', fields: 'doc.prio' }]);
    expect(onServer.map((i) => i.fields)).toContain('doc.done,doc.prio');
    expect(onServer.map((i) => i.fields)).not.toContain('doc.title');
  });

  it('a client of the same user declaring the same indexes finds them there ("exists"), and the same results', async () => {
    const user = uniqueUser();
    // A readonly declaration (`as const`) is accepted as it is.
    const declared = [{ fields: ['prio'] }] as const;
    const a = client(user, { indexes: declared });
    await a.ready();
    await a.store.setParts('todo', { x: { title: 'x', done: false, prio: 2 }, y: { title: 'y', done: false, prio: 1 } });
    expect((await a.store.find<Todo>({ prefix: 'todo', sort: ['prio'] })).map((r) => r.key + ':' + r.subkey)).toEqual(['todo:y', 'todo:x']);
    await a.close();
    const b = client(user, { indexes: [{ fields: ['prio'] }], local: { adapter: 'memory', name: `other-${user}` } });
    await b.ready();
    await waitFor(async () => (await b.store.find({ prefix: 'todo' })).length === 2, 10_000, 'the second device sees both values');
    expect((await b.store.find<Todo>({ prefix: 'todo', sort: ['prio'] })).map((r) => r.value.title)).toEqual(['y', 'x']);
  });
});

describe('indexes option: bad values and failures', () => {
  const client = clientsOf(emu, modes[0]);

  it('bad values are invalid_argument when the client is created, before any request', () => {
    let requests = 0;
    const base = { couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor('nobody'), fetch: () => (requests++, Promise.reject(new Error('no'))) };
    const bad: unknown[] = [
      {},
      'prio',
      [{}],
      ['prio'],
      [{ fields: [] }],
      [{ fields: 'prio' }],
      [{ fields: [''] }],
      [{ fields: ['$x'] }],
      [{ fields: [3] }],
      [{ fields: ['a'], name: '' }],
      [{ fields: ['a'], name: '_design/x' }],
      [{ fields: ['a'], name: 7 }],
      [{ fields: ['a'], sort: 'desc' }],
    ];
    for (const indexes of bad) {
      let caught: unknown;
      try {
        createFeatClient({ ...base, indexes } as unknown as FeatClientOptions);
      } catch (error) {
        caught = error;
      }
      expect(caught, JSON.stringify(indexes)).toBeInstanceOf(FeatError);
      expect((caught as FeatError).code).toBe('invalid_argument');
      expect((caught as FeatError).message).toMatch(/indexes/);
    }
    expect(requests).toBe(0);
  });

  it('a failed creation rejects the query with a FeatError and goes to the error event; the next query tries again', async () => {
    const user = uniqueUser();
    let refuse = true;
    const refusing: typeof fetch = async (input, init) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      if (refuse && init?.method === 'POST' && url.endsWith('/_index')) {
        return new Response(JSON.stringify({ error: 'forbidden', reason: 'You are not allowed to create indexes' }), { status: 403, headers: { 'Content-Type': 'application/json' } });
      }
      return fetch(input, init);
    };
    const c = client(user, { indexes: [{ fields: ['prio'], name: 'by-prio' }], fetch: refusing });
    const errors: FeatError[] = [];
    c.sync.on('error', (e) => errors.push(e));
    await c.ready();
    await waitFor(() => errors.length > 0, 10_000, 'the error event');
    expect(errors[0]).toBeInstanceOf(FeatError);
    expect(errors[0]!.code).toBe('forbidden');
    await c.store.set('todo', { title: 't', done: false, prio: 1 });
    const failed = await expectCode(c.store.find({ selector: { prio: 1 } }), 'forbidden');
    expect(failed.message).toMatch(/not allowed/);
    refuse = false;
    expect(await c.store.find({ selector: { prio: 1 } })).toEqual([{ key: 'todo', value: { title: 't', done: false, prio: 1 } }]);
    expect((await serverIndexes(user)).map((i) => i.name)).toContain('by-prio');
  });

  it('a server that never answers the index request: the query fails with timeout, bounded by requestTimeout', async () => {
    const silent: typeof fetch = (input, init) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      if (init?.method === 'POST' && url.endsWith('/_index')) {
        return new Promise<Response>((_, reject) => init.signal?.addEventListener('abort', () => reject(init.signal!.reason as Error)));
      }
      return fetch(input, init);
    };
    const c = client(uniqueUser(), { indexes: [{ fields: ['prio'] }], fetch: silent, requestTimeout: 400 });
    const errors: FeatError[] = [];
    c.sync.on('error', (e) => errors.push(e));
    await c.ready();
    const started = Date.now();
    await expectCode(c.store.find({ selector: { prio: 1 } }), 'timeout');
    expect(Date.now() - started).toBeLessThan(5_000);
    await waitFor(() => errors.some((e) => e.code === 'timeout'), 5_000, 'the error event');
  });

  it('without the option the same query is a full scan, and says so', async () => {
    const c = client(uniqueUser());
    await c.ready();
    await c.store.set('todo', { title: 't', done: false, prio: 9 });
    const warnings: string[] = [];
    expect(await c.store.find({ selector: { prio: { $gte: 8 } } }, { onWarning: (w) => warnings.push(w) })).toHaveLength(1);
    expect(warnings.join()).toMatch(/No matching index found/);
  });
});
