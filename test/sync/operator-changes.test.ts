/**
 * What the operator does to a user's database under running clients. Documents the server refuses one by one (a `validate_doc_update` the operator installed, a user who is a member but
 * not an admin of their database): the refusal is `forbidden` with its key, the status stays `denied` while it holds,
 * `pending()` counts only what is not on the server, the refused document is sent again once the server takes it, and
 * an index definition the server refuses is given up without blocking `pending()`/`waitForPush()`. The emulator runs no
 * JavaScript design functions: these run on the real CouchDB (`FEAT_BACKEND=real`).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClient, type FeatError } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { ON_REAL } from '../support/target.js';

const emu = useEmulator();
const COUCH = process.env.COUCH_URL ?? 'http://127.0.0.1:5984';
const open: FeatClient[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close().catch(() => undefined)));
});

async function admin(method: string, path: string, body?: unknown): Promise<{ status: number; json: { _rev?: string } }> {
  const { adminFetch } = await import('../support/real-emulator.js');
  const response = await adminFetch(`${COUCH}${path}`, { method, headers: { 'Content-Type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  return { status: response.status, json: (await response.json()) as { _rev?: string } };
}

function client(user: string, errors: FeatError[]): FeatClient {
  const c = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), local: { adapter: 'memory' }, requestTimeout: 5_000 });
  c.sync.on('error', (e) => void errors.push(e));
  open.push(c);
  return c;
}

const onServer = async (db: string, id: string) => (await admin('GET', `/${db}/${encodeURIComponent(id)}`)).status === 200;

describe.runIf(ON_REAL)('documents the server refuses (real CouchDB)', () => {
  it('a validate_doc_update refuses one key: forbidden with its key once, status denied, pending() 1, the others pushed; sent again once the rule is gone', async () => {
    const user = uniqueUser('refused');
    const errors: FeatError[] = [];
    const a = client(user, errors);
    const { dbName } = await a.ready();
    const rule = { _id: '_design/rules', validate_doc_update: "function (doc) { if (doc._id.indexOf('bad') === 0 && !doc._deleted) throw({ forbidden: 'no bad keys' }); }" };
    expect((await admin('PUT', `/${dbName}/_design/rules`, rule)).status).toBe(201);
    await a.store.set('good1', 1);
    await a.store.set('bad1', 1);
    await a.store.set('good2', 2);
    await waitFor(async () => (await onServer(dbName, 'good2')) && a.sync.status === 'denied', 20_000, 'good2 pushed, status denied');
    await waitFor(async () => (await a.sync.pending()) === 1, 10_000, 'pending() 1');
    expect(await onServer(dbName, 'bad1')).toBe(false);
    expect(errors.map((e) => `${e.code}:${e.key}`)).toEqual(['forbidden:bad1']);
    await expect(a.sync.waitForPush({ timeout: 2_000 })).rejects.toMatchObject({ code: 'timeout' });
    // Later writes go; the refusal is not reported again, the status stays denied.
    await a.store.set('good3', 3);
    await waitFor(() => onServer(dbName, 'good3'), 20_000, 'good3 pushed');
    await sleep(1_000);
    expect(a.sync.status).toBe('denied');
    expect(errors).toHaveLength(1);
    // The operator lifts the rule: the refused document goes by itself (resent with backoff, the first after ~5 s).
    const current = await admin('GET', `/${dbName}/_design/rules`);
    await admin('DELETE', `/${dbName}/_design/rules?rev=${current.json._rev}`);
    await waitFor(() => onServer(dbName, 'bad1'), 30_000, 'bad1 pushed once the rule is gone');
    await a.sync.waitForPush({ timeout: 15_000 });
    expect(await a.sync.pending()).toBe(0);
    await waitFor(async () => a.sync.status === 'idle', 10_000, 'idle again');
  }, 90_000);

  it('a member who is not an admin of their database: values sync; the index definitions the server refuses are given up (one forbidden), pending() reaches 0', async () => {
    const user = uniqueUser('member');
    const errors: FeatError[] = [];
    const a = client(user, errors);
    const { dbName } = await a.ready();
    expect((await admin('PUT', `/${dbName}/_security`, { admins: { names: [], roles: [] }, members: { names: [user], roles: [] } })).status).toBe(200);
    await a.store.setParts('todo', { x: { done: true, n: 1 }, y: { done: false, n: 2 } });
    expect((await a.store.find<{ n: number }>({ prefix: 'todo', sort: ['n'] })).map((r) => r.value.n)).toEqual([1, 2]);
    await a.store.createIndex({ fields: ['done'] });
    await a.sync.waitForPush({ timeout: 20_000 });
    expect(await a.sync.pending()).toBe(0);
    expect(await onServer(dbName, 'todo:x')).toBe(true);
    await waitFor(async () => a.sync.status === 'idle', 10_000, 'idle');
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.every((e) => e.code === 'forbidden' && e.key?.startsWith('_design/'))).toBe(true);
    // Remote mode: a sort needs a server index, which a member cannot create — forbidden (CouchDB says 500), not server.
    const b = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote' });
    open.push(b);
    await expect(b.store.find({ prefix: 'todo', sort: ['done'] })).rejects.toMatchObject({ code: 'forbidden' });
  }, 60_000);

  it('remote mode, the database deleted by the operator: every read and write rejects with not_found (a missing database is not an absent key)', async () => {
    const user = uniqueUser('dropped');
    const b = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote' });
    open.push(b);
    const { dbName } = await b.ready();
    await b.store.set('draft', { title: 'important' });
    await b.store.setParts('art', { p1: 'x' });
    expect((await admin('DELETE', `/${dbName}`)).status).toBe(200);
    const code = (p: Promise<unknown>) => p.then((v) => `resolved ${JSON.stringify(v)}`, (e: FeatError) => e.code);
    expect({
      get: await code(b.store.get('draft')),
      getItem: await code(b.store.getItem('draft')),
      getParts: await code(b.store.getParts('art')),
      keys: await code(b.store.keys()),
      set: await code(b.store.set('x', 1)),
    }).toEqual({ get: 'not_found', getItem: 'not_found', getParts: 'not_found', keys: 'not_found', set: 'not_found' });
  }, 60_000);
});
