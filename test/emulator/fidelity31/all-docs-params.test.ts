/** `_all_docs` parameters a map view refuses, and a GET naming `key` and `keys`. Real answers stated. */
import { describe, expect, it } from 'vitest';
import { j, ownDatabase } from './setup.js';

const { send } = ownDatabase('f31ad');

describe('_all_docs', () => {
  it('group=true → 400 query_parse_error "Invalid use of grouping on a map view."', async () => {
    const r = await send('GET', '/{db}/_all_docs?group=true');
    expect({ status: r.status, body: r.body }).toEqual({ status: 400, body: { error: 'query_parse_error', reason: 'Invalid use of grouping on a map view.' } });
  });

  it('reduce=true → 400 query_parse_error "Reduce is invalid for map-only views."', async () => {
    const r = await send('GET', '/{db}/_all_docs?reduce=true');
    expect({ status: r.status, body: r.body }).toEqual({ status: 400, body: { error: 'query_parse_error', reason: 'Reduce is invalid for map-only views.' } });
  });

  it('held: group=false / reduce=false → 200', async () => {
    expect((await send('GET', '/{db}/_all_docs?group=false&reduce=false')).status).toBe(200);
  });

  it('a GET with key and keys → 200, the keys win', async () => {
    await send('PUT', '/{db}/kk', j({}));
    const r = await send('GET', '/{db}/_all_docs?key="zz"&keys=["kk"]');
    expect(r.status).toBe(200);
    expect((r.body as { rows: { id: string }[] }).rows.map((x) => x.id)).toEqual(['kk']);
  });

  it('held: a POST of keys with key in the query → 400 "`keys` is incompatible with `key`, `start_key` and `end_key`"', async () => {
    const r = await send('POST', '/{db}/_all_docs?key="zz"', j({ keys: ['kk'] }), { 'Content-Type': 'application/json' });
    expect({ status: r.status, body: r.body }).toEqual({ status: 400, body: { error: 'query_parse_error', reason: '`keys` is incompatible with `key`, `start_key` and `end_key`' } });
  });
});
