/**
 * `_all_docs` orders ids as CouchDB does — by code point (raw collation: the UTF-8 bytes) — and cuts ranges, `skip`
 * and `limit` in that order. The emulator's memory storage listed them by UTF-16 code units: ids mixing characters
 * above U+FFFF (emoji) with U+E000–U+FFFF (fullwidth forms, private use) came in another order than from the server
 * (found by the README attack: a remote export's lines in another order on the real server). Runs on both backends;
 * the expected order is the code point order, which the real server answers.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { uniqueUser, useEmulator } from '../support/backend.js';
import { rawCapped } from './raw-deadline.js';

const emu = useEmulator({ profile: 'couchdb' });
let headers: Record<string, string>;
let db: string;
const send = (method: string, path: string, body?: string) => rawCapped(emu.couchUrl, method, path, body, { ...headers, 'Content-Type': 'application/json' }, 20_000);
const byCodePoint = (a: string, b: string) => {
  const [x, y] = [[...a].map((c) => c.codePointAt(0)!), [...b].map((c) => c.codePointAt(0)!)];
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
};
const IDS = ['a', 'k', 'k😀', 'k😀z', 'kｆ', 'k\ue000', 'kz', 'k𝄞', 'l', '😀', 'ｆ'];
const sorted = [...IDS].sort(byCodePoint);
const ids = (answer: { body: unknown }) => (answer.body as { rows: { id: string }[] }).rows.map((r) => r.id);
const q = (params: Record<string, unknown>) =>
  `/${db}/_all_docs?${Object.entries(params)
    .map(([k, v]) => `${k}=${encodeURIComponent(typeof v === 'string' && k !== 'startkey_docid' ? JSON.stringify(v) : String(v))}`)
    .join('&')}`;

beforeAll(async () => {
  const user = uniqueUser('alldocs-order');
  await emu.createUser(user);
  headers = emu.couchHeadersFor(user);
  db = `userdb-${Buffer.from(user).toString('hex')}`;
  for (let i = 0; i < 100 && (await send('GET', `/${db}`)).status !== 200; i++) await new Promise((r) => setTimeout(r, 100));
  const bulk = await send('POST', `/${db}/_bulk_docs`, JSON.stringify({ docs: IDS.map((_id) => ({ _id })) }));
  expect(bulk.status).toBe(201);
}, 60_000);

describe('_all_docs in code point order', () => {
  it('lists every id by code point (emoji after fullwidth forms), ascending and descending', async () => {
    expect(ids(await send('GET', `/${db}/_all_docs`))).toEqual(sorted);
    expect(ids(await send('GET', q({ descending: true })))).toEqual([...sorted].reverse());
    expect(ids(await send('POST', `/${db}/_all_docs`, JSON.stringify({})))).toEqual(sorted);
  });

  it('cuts ranges, skip and limit in that order; offset and total_rows count in it', async () => {
    const range = (lo: string, hi: string) => sorted.filter((id) => byCodePoint(id, lo) >= 0 && byCodePoint(id, hi) <= 0);
    expect(ids(await send('GET', q({ startkey: 'k', endkey: 'k\u{10ffff}' })))).toEqual(range('k', 'k\u{10ffff}'));
    expect(ids(await send('GET', q({ startkey: 'kｆ', endkey: 'l' })))).toEqual(range('kｆ', 'l'));
    expect(ids(await send('GET', q({ startkey: 'k', endkey: 'k\uffff' })))).toEqual(range('k', 'k\uffff'));
    expect(ids(await send('GET', q({ startkey: 'k😀', limit: 2, skip: 1 })))).toEqual(sorted.slice(sorted.indexOf('k😀') + 1, sorted.indexOf('k😀') + 3));
    expect(ids(await send('GET', q({ startkey: 'l', endkey: 'k', descending: true })))).toEqual(range('k', 'l').reverse());
    expect(ids(await send('GET', q({ startkey: 'k', endkey: 'kz', inclusive_end: false })))).toEqual(range('k', 'kz').filter((id) => id !== 'kz'));
    expect(ids(await send('GET', q({ key: 'kｆ' })))).toEqual(['kｆ']);
    const page = (await send('GET', q({ startkey: 'kｆ', limit: 1 }))).body as { total_rows: number; offset: number };
    expect({ total_rows: page.total_rows, offset: page.offset }).toEqual({ total_rows: IDS.length, offset: sorted.indexOf('kｆ') });
    // Past the end, CouchDB counts every row before it, no more.
    const past = (await send('GET', q({ skip: 100 }))).body as { offset: number; rows: unknown[] };
    const after = (await send('GET', q({ startkey: '\u{10ffff}', skip: 1 }))).body as { offset: number; rows: unknown[] };
    expect([past.offset, past.rows.length, after.offset, after.rows.length]).toEqual([IDS.length, 0, IDS.length, 0]);
  });

  it('ids written after a listing are ordered too (and one of a kind in an otherwise plain database)', async () => {
    const user = uniqueUser('alldocs-later');
    await emu.createUser(user);
    const h = emu.couchHeadersFor(user);
    const d = `userdb-${Buffer.from(user).toString('hex')}`;
    const raw = (method: string, path: string, body?: string) => rawCapped(emu.couchUrl, method, path, body, { ...h, 'Content-Type': 'application/json' }, 20_000);
    for (let i = 0; i < 100 && (await raw('GET', `/${d}`)).status !== 200; i++) await new Promise((r) => setTimeout(r, 100));
    expect((await raw('PUT', `/${d}/${encodeURIComponent('x😀')}`, '{}')).status).toBe(201);
    expect(ids(await raw('GET', `/${d}/_all_docs`))).toEqual(['x😀']);
    expect((await raw('PUT', `/${d}/${encodeURIComponent('x\uff01')}`, '{}')).status).toBe(201);
    expect(ids(await raw('GET', `/${d}/_all_docs`))).toEqual(['x\uff01', 'x😀']);
  });

  it('include_docs and _all_docs/queries answer in the same order', async () => {
    const body = (await send('GET', q({ include_docs: true, startkey: 'k', endkey: 'k\u{10ffff}' }))).body as { rows: { id: string; doc: { _id: string } }[] };
    expect(body.rows.map((r) => r.doc._id)).toEqual(sorted.filter((id) => id.startsWith('k')));
    const queries = await send('POST', `/${db}/_all_docs/queries`, JSON.stringify({ queries: [{ startkey: 'k', endkey: 'k\u{10ffff}' }, { limit: 3 }] }));
    const results = (queries.body as { results: { rows: { id: string }[] }[] }).results.map((r) => r.rows.map((row) => row.id));
    expect(results).toEqual([sorted.filter((id) => id.startsWith('k')), sorted.slice(0, 3)]);
  });
});
