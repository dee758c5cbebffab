/**
 * Raw requests an SDK or an app may send, where a black-box comparison found the emulator answering otherwise than
 * Apache CouchDB 3.4.3 behind the deployment's nginx (the zz-wire findings): one `_bulk_docs` naming a document twice,
 * design documents addressed as `_design%2F<name>`, special members CouchDB does not know, methods a route does not
 * take, and `_changes`/`_all_docs` parameters. Every assertion states the REAL server's answer and the file runs on
 * both backends (`FEAT_BACKEND=real`). Where the emulator models a finding in both profiles, the cases run under both
 * (`couchdb` and the default one); where the default profile keeps its lenient answer on purpose, under `couchdb` only.
 * Cases marked "(holds)" passed before the fixes too: they pin neighbouring answers the fixes must not change.
 */
import { createRequire } from 'node:module';
import PouchDB from 'pouchdb-core';
import HttpAdapter from 'pouchdb-adapter-http';
import Replication from 'pouchdb-replication';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Emulator } from '@feat/emulator';
import { uniqueUser, useEmulator } from '../support/backend.js';
import type { RawAnswer } from '../support/raw-http.js';
import { rawCapped } from './raw-deadline.js';

const require = createRequire(import.meta.url);
PouchDB.plugin(HttpAdapter).plugin(require('pouchdb-adapter-memory') as PouchDB.Plugin).plugin(Replication);

const strict = useEmulator({ profile: 'couchdb' });
const lenient = useEmulator();

const json = (v: unknown) => JSON.stringify(v);
const q = (v: unknown) => encodeURIComponent(json(v));
const outcome = (a: RawAnswer) => {
  const b = a.body as { error?: unknown; reason?: unknown } | undefined;
  return { status: a.status, error: b?.error, reason: b?.reason };
};
const revOf = (a: RawAnswer) => (a.body as { rev: string }).rev;
let n = 0;
const fresh = (p: string) => `${p}-${n++}`;

/** One user's database on an emulator (or on the real server), and raw requests as that user. */
interface Account {
  emu: Emulator;
  headers: Record<string, string>;
  db: string;
  send(method: string, path: string, body?: string, extra?: Record<string, string>): Promise<RawAnswer>;
  at(path: string): string;
}

function account(emu: Emulator, prefix: string): Account {
  const a = {
    emu,
    headers: {},
    db: '',
    send: (method: string, path: string, body?: string, extra: Record<string, string> = {}) => rawCapped(emu.couchUrl, method, path, body, { ...a.headers, ...extra }, 20_000),
    at: (path: string) => `/${a.db}${path}`,
  } as Account;
  beforeAll(async () => {
    const user = uniqueUser(prefix);
    await emu.createUser(user);
    a.headers = emu.couchHeadersFor(user);
    a.db = `userdb-${Buffer.from(user).toString('hex')}`;
    for (let i = 0; i < 100 && (await a.send('GET', a.at(''))).status !== 200; i++) await new Promise((r) => setTimeout(r, 100));
  }, 60_000);
  return a;
}

const couchdb = account(strict, 'wirefid');
const plain = account(lenient, 'wirefid-default');
const PROFILES: [string, Account][] = [
  ['couchdb', couchdb],
  ['default', plain],
];

/** The `open_revs=all` leaves of `id`: `<position>:<v>` each, `:deleted` for a deletion. */
async function leaves(a: Account, id: string): Promise<string[]> {
  const r = await a.send('GET', a.at(`/${id}?open_revs=all`), undefined, { Accept: 'application/json' });
  return (r.body as { ok?: { _rev: string; v?: unknown; _deleted?: boolean } }[]).map((x) =>
    x.ok ? `${x.ok._rev.split('-')[0]}:${String(x.ok.v)}${x.ok._deleted === true ? ':deleted' : ''}` : 'missing',
  );
}

type BulkAnswer = { ok?: boolean; id?: string; rev?: string; error?: string; reason?: string }[];
const CONFLICT = { error: 'conflict', reason: 'Document update conflict.' };
const bulk = async (a: Account, body: unknown) => {
  const r = await a.send('POST', a.at('/_bulk_docs'), json(body));
  expect(r.status).toBe(201);
  return r.body as BulkAnswer;
};

describe.each(PROFILES)('finding 1: one _bulk_docs naming a document twice (profile %s)', (_profile, a) => {
  it('two edits of the same revision: [ok, conflict], and the refused one leaves no revision behind', async () => {
    const id = fresh('dup');
    const first = revOf(await a.send('PUT', a.at(`/${id}`), json({ v: 1 })));
    const answer = await bulk(a, { docs: [{ _id: id, _rev: first, v: 2 }, { _id: id, _rev: first, v: 3 }] });
    expect(answer).toEqual([{ ok: true, id, rev: expect.stringMatching(/^2-/) as unknown }, { id, ...CONFLICT }]);
    const winner = answer[0]!.rev!;

    // Not a leaf in the feed a replicator reads, nor a conflict of the document anywhere it is read.
    const feed = (await a.send('GET', a.at(`/_changes?style=all_docs&filter=_doc_ids&doc_ids=${q([id])}`))).body as { results: { changes: { rev: string }[] }[] };
    expect(feed.results.flatMap((r) => r.changes.map((c) => c.rev))).toEqual([winner]);
    expect(await leaves(a, id)).toEqual(['2:2']);
    expect((await a.send('GET', a.at(`/${id}?conflicts=true`))).body).not.toHaveProperty('_conflicts');
    const all = (await a.send('POST', a.at('/_all_docs?include_docs=true&conflicts=true'), json({ keys: [id] }))).body as { rows: { doc: object }[] };
    expect(all.rows[0]!.doc).not.toHaveProperty('_conflicts');
    const found = (await a.send('POST', a.at('/_find'), json({ selector: { _id: id }, conflicts: true }))).body as { docs: object[] };
    expect(found.docs[0]).not.toHaveProperty('_conflicts');
    const revsDiff = await a.send('POST', a.at('/_revs_diff'), json({ [id]: [winner] }));
    expect(revsDiff.body).toEqual({});
  });

  it('a device pulling the database with plain PouchDB gets the document without errors or conflicts', async () => {
    const id = fresh('duprepl');
    const first = revOf(await a.send('PUT', a.at(`/${id}`), json({ v: 1 })));
    await bulk(a, { docs: [{ _id: id, _rev: first, v: 2 }, { _id: id, _rev: first, v: 3 }] });
    const remote = new PouchDB(`${a.emu.couchUrl}/${a.db}`, {
      skip_setup: true,
      fetch: (url: string | Request, opts?: RequestInit) => {
        const h = new Headers(opts?.headers);
        for (const [k, v] of Object.entries(a.headers)) h.set(k, v);
        return PouchDB.fetch(url, { ...opts, headers: h, credentials: 'omit' });
      },
    } as PouchDB.HttpAdapter.HttpAdapterConfiguration);
    const device = new PouchDB(fresh(`wirefid-device-${Date.now()}`), { adapter: 'memory' });
    try {
      const result = await device.replicate.from(remote, { doc_ids: [id] }).then(
        (r) => ({ ok: r.ok, failures: r.doc_write_failures, errors: r.errors.length }),
        (e: Error) => ({ error: e.message }),
      );
      expect(result).toEqual({ ok: true, failures: 0, errors: 0 });
      const local = (await device.get(id, { conflicts: true })) as { v?: number; _conflicts?: string[] };
      expect({ v: local.v, conflicts: local._conflicts }).toEqual({ v: 2, conflicts: undefined });
    } finally {
      await device.destroy();
      await remote.close();
    }
  });

  it('three edits of one revision, an edit then a deletion of it, a stale edit first: each against what the earlier left (holds)', async () => {
    const [c, e, f] = [fresh('three'), fresh('editdel'), fresh('stale')];
    const revs = await Promise.all([c, e, f].map(async (id) => revOf(await a.send('PUT', a.at(`/${id}`), json({ v: 1 })))));
    const answer = await bulk(a, {
      docs: [
        { _id: c, _rev: revs[0], v: 2 },
        { _id: c, _rev: revs[0], v: 3 },
        { _id: c, _rev: revs[0], v: 4 },
        { _id: e, _rev: revs[1], v: 2 },
        { _id: e, _rev: revs[1], _deleted: true },
        { _id: f, _rev: '1-abcabc', v: 2 },
        { _id: f, _rev: revs[2], v: 3 },
      ],
    });
    expect(answer.map((r) => [r.id, r.error ?? 'ok'])).toEqual([
      [c, 'ok'],
      [c, 'conflict'],
      [c, 'conflict'],
      [e, 'ok'],
      [e, 'conflict'],
      [f, 'conflict'],
      [f, 'ok'],
    ]);
    expect([await leaves(a, c), await leaves(a, e), await leaves(a, f)]).toEqual([['2:2'], ['2:2'], ['2:3']]);
  });

  it('new documents with one id: the first is written, the next are conflicts; answers in the request order (holds)', async () => {
    const [g1, g2, g3] = [fresh('g1'), fresh('g2'), fresh('g3')];
    const answer = await bulk(a, { docs: [{ _id: g1, v: 1 }, { _id: g2, v: 1 }, { _id: g1, v: 2 }, { _id: g3 }, { _id: g2, v: 2 }, { _id: g1, v: 3 }] });
    expect(answer.map((r) => [r.id, r.error ?? 'ok'])).toEqual([
      [g1, 'ok'],
      [g2, 'ok'],
      [g1, 'conflict'],
      [g3, 'ok'],
      [g2, 'conflict'],
      [g1, 'conflict'],
    ]);
    expect((await a.send('GET', a.at(`/${g1}`))).body).toMatchObject({ v: 1 });
  });

  it('a deletion, then a write without rev of the same id: both written, the document live again at 3 (holds)', async () => {
    const id = fresh('delnew');
    const first = revOf(await a.send('PUT', a.at(`/${id}`), json({ v: 1 })));
    const answer = await bulk(a, { docs: [{ _id: id, _rev: first, _deleted: true }, { _id: id, v: 5 }] });
    expect(answer.map((r) => r.error ?? r.rev!.split('-')[0])).toEqual(['2', '3']);
    expect(await leaves(a, id)).toEqual(['3:5']);
  });

  it('new_edits: false keeps every revision named, also the same one twice (holds)', async () => {
    const id = fresh('replicated');
    const answer = await bulk(a, { new_edits: false, docs: [{ _id: id, _rev: '1-aaaa', v: 1 }, { _id: id, _rev: '1-bbbb', v: 2 }, { _id: id, _rev: '1-aaaa', v: 3 }] });
    expect(answer).toEqual([]);
    expect(await leaves(a, id)).toEqual(['1:1', '1:2']);
  });
});

describe('finding 1: one _bulk_docs naming a document twice, the couchdb profile’s own rules', () => {
  it('an unknown revision of a new document twice: the first is written at the next position, the second a conflict (holds)', async () => {
    const id = fresh('unknownrev');
    const answer = await bulk(couchdb, { docs: [{ _id: id, _rev: '3-abc', v: 1 }, { _id: id, _rev: '3-abc', v: 2 }] });
    expect(answer.map((r) => r.error ?? r.rev!.split('-')[0])).toEqual(['4', 'conflict']);
    expect(await leaves(couchdb, id)).toEqual(['4:1']);
  });

  it('a _local document twice: both written (no revision checks), the second value kept (holds)', async () => {
    const id = `_local/${fresh('twice')}`;
    expect(await bulk(couchdb, { docs: [{ _id: id, v: 1 }, { _id: id, v: 2 }] })).toEqual([
      { ok: true, id, rev: '0-1' },
      { ok: true, id, rev: '0-1' },
    ]);
    expect((await couchdb.send('GET', couchdb.at(`/${id}`))).body).toEqual({ _id: id, _rev: '0-1', v: 2 });
  });
});

describe('finding 2: design documents addressed as `_design%2F<name>` (profile couchdb)', () => {
  const a = couchdb;

  it('GET and HEAD → 301 to `/_design/<name>`, the query kept, behind nginx with no port; also for a missing one or an attachment', async () => {
    const name = fresh('dd');
    await a.send('PUT', a.at(`/_design/${name}`), json({ language: 'query' }));
    for (const [method, path, to] of [
      ['GET', `/_design%2F${name}`, `/_design/${name}`],
      ['HEAD', `/_design%2F${name}`, `/_design/${name}`],
      ['GET', `/_design%2f${name}?revs=true&x=1`, `/_design/${name}?revs=true&x=1`],
      ['GET', `/_design%2F${name}/att`, `/_design/${name}/att`],
      ['GET', `/_design%2Fmissing-${name}`, `/_design/missing-${name}`],
    ] as const) {
      const r = await a.send(method, a.at(path));
      expect({ method, path, status: r.status, text: r.text }).toEqual({ method, path, status: 301, text: '' });
      const location = new URL(String(r.headers.location));
      expect({ port: location.port, path: `${location.pathname}${location.search}` }).toEqual({ port: '', path: a.at(to) });
    }
  });

  it('DELETE without a rev → 409 conflict, the design document stays', async () => {
    const name = fresh('dd');
    expect((await a.send('PUT', a.at(`/_design%2F${name}`), json({ language: 'query' }))).status).toBe(201);
    expect(outcome(await a.send('DELETE', a.at(`/_design%2F${name}`)))).toEqual({ status: 409, ...CONFLICT });
    expect((await a.send('GET', a.at(`/_design/${name}`))).status).toBe(200);
  });

  it('DELETE naming a revision the document lacks → 409 conflict (also `_design/<name>` and any document)', async () => {
    const name = fresh('dd');
    const rev = revOf(await a.send('PUT', a.at(`/_design/${name}`), json({ language: 'query' })));
    const doc = fresh('plain');
    await a.send('PUT', a.at(`/${doc}`), json({ v: 1 }));
    for (const path of [`/_design%2F${name}?rev=1-abc`, `/_design/${name}?rev=2-abc`, `/${doc}?rev=1-abc`]) {
      expect({ path, ...outcome(await a.send('DELETE', a.at(path))) }).toEqual({ path, status: 409, ...CONFLICT });
    }
    const deleted = await a.send('DELETE', a.at(`/_design%2F${name}?rev=${rev}`));
    expect({ status: deleted.status, ok: (deleted.body as { ok?: boolean }).ok }).toEqual({ status: 200, ok: true });
    expect(outcome(await a.send('GET', a.at(`/_design/${name}`)))).toEqual({ status: 404, error: 'not_found', reason: 'deleted' });
  });

  it('PUT naming a stale revision → 409 conflict (holds)', async () => {
    const name = fresh('dd');
    await a.send('PUT', a.at(`/_design%2F${name}`), json({ language: 'query' }));
    expect(outcome(await a.send('PUT', a.at(`/_design%2F${name}`), json({ language: 'query', _rev: '1-abc' })))).toEqual({ status: 409, ...CONFLICT });
  });
});

describe.each(PROFILES)('finding 2: `_design%2F<name>` is the design document for its other methods (profile %s)', (_profile, a) => {
  it('PATCH → 405 with the document route’s Allow; COPY → 201 {ok, id, rev}', async () => {
    const name = fresh('dd');
    await a.send('PUT', a.at(`/_design/${name}`), json({ language: 'query' }));
    const patch = await a.send('PATCH', a.at(`/_design%2F${name}`));
    expect(outcome(patch)).toEqual({ status: 405, error: 'method_not_allowed', reason: 'Only DELETE,GET,HEAD,POST,PUT,COPY allowed' });
    expect(patch.headers.allow).toBe('DELETE,GET,HEAD,POST,PUT,COPY');
    const target = fresh('copied');
    const copy = await a.send('COPY', a.at(`/_design%2F${name}`), undefined, { Destination: target });
    expect(copy.status).toBe(201);
    expect(copy.body).toEqual({ ok: true, id: target, rev: expect.stringMatching(/^1-/) as unknown });
  });
});

describe.each(PROFILES)('finding 3: special members CouchDB 3.4 does not know (profile %s)', (_profile, a) => {
  const BAD = (member: string) => ({ status: 400, error: 'doc_validation', reason: `Bad special document member: ${member}` });

  it('`_removed` and `_rev_tree` → 400 doc_validation in PUT, POST /{db} and _bulk_docs (new_edits false too); nothing written', async () => {
    for (const member of ['_removed', '_rev_tree']) {
      const [put, post, inBulk, okInBulk, replicated] = ['sp-put', 'sp-post', 'sp-bulk', 'sp-bulk-ok', 'sp-repl'].map(fresh) as [string, string, string, string, string];
      expect({ member, ...outcome(await a.send('PUT', a.at(`/${put}`), json({ [member]: true, v: 1 }))) }).toEqual({ member, ...BAD(member) });
      expect({ member, ...outcome(await a.send('POST', a.at(''), json({ _id: post, [member]: {} }))) }).toEqual({ member, ...BAD(member) });
      const docs = [{ _id: okInBulk }, { _id: inBulk, [member]: [] }];
      expect({ member, ...outcome(await a.send('POST', a.at('/_bulk_docs'), json({ docs }))) }).toEqual({ member, ...BAD(member) });
      const body = { new_edits: false, docs: [{ _id: replicated, _rev: '1-abc', [member]: true }] };
      expect({ member, ...outcome(await a.send('POST', a.at('/_bulk_docs'), json(body))) }).toEqual({ member, ...BAD(member) });
      for (const id of [put, post, inBulk, okInBulk, replicated]) expect({ id, status: (await a.send('GET', a.at(`/${id}`))).status }).toEqual({ id, status: 404 });
    }
  });

  it('the first member it does not take is named (`_deleted` that is not a boolean counts) (holds)', async () => {
    expect(outcome(await a.send('PUT', a.at(`/${fresh('order')}`), json({ _foo: 1, _removed: 1 })))).toEqual(BAD('_foo'));
    expect(outcome(await a.send('PUT', a.at(`/${fresh('order')}`), json({ _deleted: 'x', _foo: 1 })))).toEqual(BAD('_deleted'));
  });

  it('`_access` and the replication members are stored as data (holds)', async () => {
    const id = fresh('kept');
    const members = { _access: true, _replication_state: 'x', _replication_id: 'y', _replication_stats: {}, _replication_state_time: 1, _replication_state_reason: 'z' };
    expect((await a.send('PUT', a.at(`/${id}`), json({ ...members, v: 1 }))).status).toBe(201);
    expect((await a.send('GET', a.at(`/${id}`))).body).toMatchObject({ ...members, v: 1 });
  });
});

describe.each(PROFILES)('finding 4: methods a route does not take → 405 with Allow (profile %s)', (_profile, a) => {
  it.each([
    ['DELETE', '/_all_docs', 'GET,HEAD,POST'],
    ['PUT', '/_all_docs', 'GET,HEAD,POST'],
    ['DELETE', '/_local_docs', 'GET,HEAD,POST'],
    ['PUT', '/_local_docs', 'GET,HEAD,POST'],
    ['DELETE', '/_design_docs', 'GET,HEAD,POST'],
    ['DELETE', '/_local_docs/queries', 'POST'],
    ['DELETE', '/_design_docs/queries', 'POST'],
    ['POST', '/_security', 'PUT,GET'],
    ['DELETE', '/_security', 'PUT,GET'],
    ['PATCH', '', 'DELETE,GET,HEAD,POST'],
    ['OPTIONS', '', 'DELETE,GET,HEAD,POST'],
    ['GET', '/_find', 'POST'],
    ['PUT', '/_find', 'POST'],
    ['GET', '/_explain', 'POST'],
    ['PATCH', '/_index', 'GET,POST'],
    ['GET', '/_index/foo/json/bar', 'DELETE'],
    ['GET', '/_ensure_full_commit', 'POST'],
  ])('%s /{db}%s → 405 "Only %s allowed"', async (method, path, allow) => {
    const r = await a.send(method, a.at(path), method === 'POST' || method === 'PUT' ? '{}' : undefined);
    expect(outcome(r)).toEqual({ status: 405, error: 'method_not_allowed', reason: `Only ${allow} allowed` });
    expect(r.headers.allow).toBe(allow);
  });

  it.each([
    ['POST', '/_uuids', 'GET'],
    ['PUT', '/_uuids', 'GET'],
    ['DELETE', '/_uuids', 'GET'],
    ['POST', '/_up', 'GET,HEAD'],
    ['DELETE', '/_up', 'GET,HEAD'],
  ])('%s %s → 405 "Only %s allowed"', async (method, path, allow) => {
    const r = await a.send(method, path, method === 'GET' || method === 'DELETE' ? undefined : '{}');
    expect(outcome(r)).toEqual({ status: 405, error: 'method_not_allowed', reason: `Only ${allow} allowed` });
    expect(r.headers.allow).toBe(allow);
  });

  it('the methods those routes take still answer: HEAD /_uuids, GET /_up, GET /{db}/_security, POST /{db}/_design_docs', async () => {
    expect((await a.send('HEAD', '/_uuids')).status).toBe(200);
    expect((await a.send('GET', '/_up')).status).toBe(200);
    expect((await a.send('GET', a.at('/_security'))).status).toBe(200);
    const name = fresh('dd');
    await a.send('PUT', a.at(`/_design/${name}`), json({ language: 'query' }));
    const listed = await a.send('POST', a.at('/_design_docs'), json({}));
    expect(listed.status).toBe(200);
    expect((listed.body as { rows: { id: string }[] }).rows.map((r) => r.id)).toContain(`_design/${name}`);
  });
});

describe.each(PROFILES)('finding 5: _changes seq_interval and _all_docs startkey_docid (profile %s)', (_profile, a) => {
  it('seq_interval that is not an integer above 0 → 400 invalid_seq_interval (a raw `+` is a space); a positive one → 200', async () => {
    for (const v of ['abc', '0', '-1', '1.5', '', '+2']) {
      expect({ v, ...outcome(await a.send('GET', a.at(`/_changes?seq_interval=${v}`))) }).toEqual({ v, status: 400, error: 'bad_request', reason: 'invalid_seq_interval' });
    }
    expect(outcome(await a.send('GET', a.at('/_changes?feed=longpoll&timeout=0&seq_interval=abc')))).toEqual({ status: 400, error: 'bad_request', reason: 'invalid_seq_interval' });
    for (const v of ['3', '%2B2']) expect({ v, status: (await a.send('GET', a.at(`/_changes?seq_interval=${v}`))).status }).toEqual({ v, status: 200 });
  });

  it('startkey_docid / endkey_docid (and start_key_doc_id / end_key_doc_id) are the range’s ends where no startkey / endkey is', async () => {
    const p = fresh('sk');
    await bulk(a, { docs: ['a', 'b', 'c', 'd'].map((s) => ({ _id: `${p}-${s}` })) });
    const ids = async (query: string) => {
      const r = await a.send('GET', a.at(`/_all_docs?${query}`));
      return { query, ids: (r.body as { rows: { id: string }[] }).rows.map((row) => row.id).filter((id) => id.startsWith(`${p}-`)) };
    };
    const k = (s: string) => `${p}-${s}`;
    const jk = (s: string) => q(k(s));
    const cases: [string, string[]][] = [
      [`startkey_docid=${k('b')}&endkey=${jk('c')}`, [k('b'), k('c')]],
      [`startkey_docid=${k('b')}&startkey=${jk('c')}&endkey=${jk('z')}`, [k('c'), k('d')]],
      [`startkey=${jk('')}&endkey_docid=${k('b')}`, [k('a'), k('b')]],
      [`startkey=${jk('')}&endkey_docid=${k('b')}&endkey=${jk('c')}`, [k('a'), k('b'), k('c')]],
      [`start_key_doc_id=${k('c')}&endkey=${jk('z')}`, [k('c'), k('d')]],
      [`startkey=${jk('')}&end_key_doc_id=${k('b')}`, [k('a'), k('b')]],
      [`startkey_docid=${k('c')}&descending=true&endkey=${jk('')}`, [k('c'), k('b'), k('a')]],
      [`startkey=${jk('')}&endkey_docid=${k('c')}&inclusive_end=false`, [k('a'), k('b')]],
    ];
    for (const [query, expected] of cases) expect(await ids(query)).toEqual({ query, ids: expected });
    const posted = await a.send('POST', a.at('/_all_docs'), json({ startkey_docid: k('c'), endkey: k('z') }));
    expect((posted.body as { rows: { id: string }[] }).rows.map((row) => row.id)).toEqual([k('c'), k('d')]);
  });
});

describe.each(PROFILES)('finding 6: a normal _changes answer carries an ETag (profile %s)', (_profile, a) => {
  it('If-None-Match naming it → 304 (any query, GET or POST, a W/ prefix dropped); `*` → 200; a write → another ETag', async () => {
    await a.send('PUT', a.at(`/${fresh('et')}`), json({ v: 1 }));
    const first = await a.send('GET', a.at('/_changes'));
    expect(first.status).toBe(200);
    const etag = String(first.headers.etag);
    expect(etag).toMatch(/^"[0-9A-Z]+"$/);
    expect((await a.send('HEAD', a.at('/_changes'))).headers.etag).toBe(etag);
    expect((await a.send('GET', a.at('/_changes?since=now'))).headers.etag).toBe(etag);
    for (const [method, path, tag] of [
      ['GET', '/_changes', etag],
      ['GET', '/_changes?limit=1', etag],
      ['POST', '/_changes', etag],
      ['GET', '/_changes', `W/${etag}`],
      ['GET', '/_changes', `"other", ${etag}`],
    ] as const) {
      const r = await a.send(method, a.at(path), method === 'POST' ? '{}' : undefined, { 'If-None-Match': tag });
      expect({ method, path, tag, status: r.status, text: r.text, etag: r.headers.etag }).toEqual({ method, path, tag, status: 304, text: '', etag });
    }
    expect((await a.send('GET', a.at('/_changes'), undefined, { 'If-None-Match': '*' })).status).toBe(200);
    await a.send('PUT', a.at(`/${fresh('et')}`), json({ v: 2 }));
    const after = await a.send('GET', a.at('/_changes'), undefined, { 'If-None-Match': etag });
    expect(after.status).toBe(200);
    expect(after.headers.etag).toMatch(/^"[0-9A-Z]+"$/);
    expect(after.headers.etag).not.toBe(etag);
  });

  it('a long poll carries none and answers If-None-Match with its rows (holds)', async () => {
    await a.send('PUT', a.at(`/${fresh('et')}`), json({ v: 1 }));
    const etag = String((await a.send('GET', a.at('/_changes'))).headers.etag);
    const poll = await a.send('GET', a.at('/_changes?feed=longpoll&timeout=0'), undefined, { 'If-None-Match': etag });
    expect(poll.status).toBe(200);
    expect(poll.headers.etag).toBeUndefined();
  });
});
