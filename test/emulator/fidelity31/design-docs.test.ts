/** Design documents: couch_mrview's validation of their members, and `_design/<name>/_info`. Real answers stated. */
import { describe, expect, it } from 'vitest';
import { j, ownDatabase } from './setup.js';

const { send } = ownDatabase('f31ddoc');
const invalid = (reason: string) => ({ status: 400, body: { error: 'invalid_design_doc', reason } });

describe('a design document written with members of the wrong type → 400 invalid_design_doc, nothing stored', () => {
  it.each([
    ['language: 5', { language: 5 }, '`language` field must have string type'],
    ['views: 5 (not 501: it holds no code)', { views: 5 }, '`views` field must have object type'],
    ['options.partitioned: true', { options: { partitioned: true } }, 'partitioned option cannot be true in a non-partitioned database.'],
    ['options: []', { options: [] }, '`options` field must have object type'],
    ['a query view whose map is not an object', { language: 'query', views: { v: { map: 5 } } }, '`views.v.map` field must have object type'],
    ['a view without map', { language: 'query', views: { v: {} } }, 'View `v` must contain map function'],
  ])('%s', async (_name, body, reason) => {
    const id = `d${Math.random().toString(36).slice(2, 8)}`;
    const r = await send('PUT', `/{db}/_design/${id}`, j(body));
    expect({ status: r.status, body: r.body }).toEqual(invalid(reason));
    expect((await send('GET', `/{db}/_design/${id}`)).status).toBe(404);
  });

  it('held: options.partitioned: false and a Mango design document are stored (201)', async () => {
    expect((await send('PUT', '/{db}/_design/okp', j({ options: { partitioned: false } }))).status).toBe(201);
    expect((await send('PUT', '/{db}/_design/okq', j({ language: 'query', views: {} }))).status).toBe(201);
  });
});

describe('GET /{db}/_design/<name>/_info', () => {
  it('of an existing design document → 200 {name, view_index} (real: the index figures of CouchDB)', async () => {
    await send('PUT', '/{db}/_design/q2', j({ language: 'query', views: {} }));
    const r = await send('GET', '/{db}/_design/q2/_info');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ name: 'q2', view_index: { language: 'query', compact_running: false, updater_running: false, purge_seq: 0 } });
    expect(Object.keys((r.body as { view_index: object }).view_index).sort()).toEqual(
      ['collator_versions', 'compact_running', 'language', 'purge_seq', 'signature', 'sizes', 'update_seq', 'updater_running', 'updates_pending', 'waiting_clients', 'waiting_commit'],
    );
  });

  it('of a missing design document → 404 not_found missing', async () => {
    const r = await send('GET', '/{db}/_design/nothere/_info');
    expect({ status: r.status, body: r.body }).toEqual({ status: 404, body: { error: 'not_found', reason: 'missing' } });
  });
});
