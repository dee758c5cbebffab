/**
 * `POST _index` naming an index its design document already holds, with other fields (measured on CouchDB 3.4.3
 * behind nginx): the definition is replaced and the answer is `created` (mango_httpd: the design document changed);
 * the same definition again is `exists`. The emulator (pouchdb-find) kept the old one and answered `exists`.
 */
import { expect, it } from 'vitest';
import { j, ownDatabase } from '../fidelity31/setup.js';

const { send } = ownDatabase('f32ix');
const JSON_TYPE = { 'Content-Type': 'application/json' };
const index = (fields: string[]) => send('POST', '/{db}/_index', j({ index: { fields }, ddoc: 'main', name: 'main', type: 'json' }), JSON_TYPE);

it('the same name with other fields replaces the definition (created); the same again is exists', async () => {
  expect((await index(['a'])).body).toEqual({ result: 'created', id: '_design/main', name: 'main' });
  expect((await index(['b'])).body).toEqual({ result: 'created', id: '_design/main', name: 'main' });
  const ddoc = (await send('GET', '/{db}/_design/main')).body as { views: Record<string, { options: { def: unknown } }> };
  expect(Object.keys(ddoc.views)).toEqual(['main']);
  expect(ddoc.views.main!.options.def).toEqual({ fields: ['b'] });
  expect((await index(['b'])).body).toEqual({ result: 'exists', id: '_design/main', name: 'main' });
  // A sort on the new field is served; one on the old is not.
  const find = (field: string) => send('POST', '/{db}/_find', j({ selector: { [field]: { $gt: null } }, sort: [field] }), JSON_TYPE);
  expect((await find('b')).status).toBe(200);
  expect((await find('a')).status).toBe(400);
});
