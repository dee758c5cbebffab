/**
 * Random and malformed requests to every route of the three services (bounded in count and time, seeded so a failure
 * can be replayed): every request gets an answer, 5xx answers are JSON, the emulator keeps answering, and none of the
 * code-execution payloads writes its marker file.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator } from '@feat/emulator';
import type { Emulator, Profile } from '@feat/emulator';
import { signUp, tokenFor } from './helpers.js';

const SEED = Number(process.env.FEAT_FUZZ_SEED ?? 20261203);
const REQUESTS = 400;
const BUDGET_MS = 20_000;

/** mulberry32: a small seeded PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

for (const profile of ['emulator', 'couchdb'] as Profile[]) {
  describe(`fuzz (${profile} profile)`, () => {
    let emu: Emulator;
    let db: string;
    let headers: Record<string, string>;
    let dir: string;
    let marker: string;

    beforeAll(async () => {
      emu = await startEmulator({ profile, peruserDelayMs: 0 });
      db = await signUp(emu, 'fuzzer');
      headers = (await tokenFor(emu, 'fuzzer')).headers;
      dir = mkdtempSync(join(tmpdir(), 'feat-emu-fuzz-'));
      marker = join(dir, 'marker');
    });
    afterAll(async () => {
      await emu.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('answers every random or malformed request, keeps answering, runs no code', async () => {
      const random = prng(SEED + (profile === 'couchdb' ? 1 : 0));
      const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
      const code = `globalThis.constructor.constructor("return process")().getBuiltinModule("child_process").execSync("touch ${marker}")`;
      const fn = `function (doc, req) { ${code}; emit(doc._id, 1); return true; }`;
      const revs = ['1-abc', '2-deadbeef', '3-000', 'bad', '', '0-1', '99999999999999999999-x'];
      const ids = ['k', 'nope', '_design/d', '_local/l', 'p+q', '%2E', 'a%2Fb', '\u00e9', 'x'.repeat(300)];
      const bodies: unknown[] = [
        {},
        [],
        'str',
        null,
        42,
        { a: 1 },
        { _id: 'k', a: 2 },
        { _rev: pick(revs), a: 3 },
        { docs: [] },
        { docs: [{ id: 'k', rev: pick(revs) }, { id: 'k' }, 1, null, { id: 5 }] },
        { docs: [{ _id: 'k' }, { _id: '_design/x', views: { v: { map: fn } } }] },
        { docs: 'nope' },
        { new_edits: false, docs: [{ _id: 'z', _rev: '1-abc' }, { _id: 'z' }] },
        { all_or_nothing: true, docs: [{ _id: 'aon' }] },
        { k: 'not-a-list' },
        { k: ['1-abc', 7] },
        { map: fn, reduce: fn },
        { filters: { f: fn }, views: { v: { map: fn } }, validate_doc_update: fn },
        { selector: { s: { $regex: '^(a|a)*$' } } },
        { selector: { s: { $regex: pick(['(', '\\1', '(?=a)', 'a{1,9}']) } } },
        { selector: { $or: 'x' } },
        { selector: {}, sort: [{ zz: 'desc' }], limit: -1 },
        { index: { fields: ['s'] } },
        { doc_ids: pick([['k'], 'k', [1]]) },
        { keys: pick([['k'], 'k', null]) },
        { _attachments: { 'a.txt': { content_type: 'text/plain', data: pick(['aGk=', '!!!', 5]) } } },
      ];
      const rawBodies = ['', '{', '{"a":"\\ud83d cut"}', '\u00ff\u00fe', 'null', '[[[[[[[[', '{"a":1}'.repeat(3)];
      const queries = [
        '',
        'open_revs=all',
        `open_revs=${encodeURIComponent('["1-abc","3-000"]')}&latest=true`,
        'open_revs=bogus',
        `open_revs=${encodeURIComponent('[1]')}`,
        'latest=true&revs=true',
        'rev=1-abc',
        'rev=bad',
        'since=bogus',
        'since=5',
        'since=now&feed=longpoll&timeout=50',
        'feed=continuous&timeout=50',
        'feed=continuous&limit=1&timeout=50',
        'feed=bogus',
        'filter=d/f',
        'filter=_view&view=d/v',
        'filter=_doc_ids&doc_ids=%5B%22k%22%5D',
        'filter=_selector',
        'filter=_design',
        'filter=bogus',
        'limit=-1',
        'limit=0',
        'skip=-1',
        'include_docs=yes',
        'include_docs=true&conflicts=true&attachments=true',
        'seq_interval=2',
        'keys=%5B%22k%22%5D',
        'startkey=%22a&endkey=zz',
        'descending=true&limit=abc',
      ];
      const paths = [
        '',
        '/_changes',
        '/_bulk_docs',
        '/_bulk_get',
        '/_all_docs',
        '/_local_docs',
        '/_design_docs',
        '/_revs_diff',
        '/_missing_revs',
        '/_find',
        '/_index',
        '/_index/_design/d/json/n',
        '/_explain',
        '/_temp_view',
        '/_security',
        '/_compact',
        '/_view_cleanup',
        '/_ensure_full_commit',
        '/_purge',
        '/_design/d/_view/v',
        '/_design/d/_show/s',
        '/_design/d/_list/l/v',
        '/_design/d/_update/u/k',
        '/_design/d/_rewrite/x',
        '/_design/d/_info',
        ...ids.map((id) => `/${id}`),
        '/k/att.txt',
        '/_design/d/att',
        '/_local/l/att',
      ];
      const methods = ['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'COPY', 'PATCH', 'OPTIONS'];
      const contentTypes = ['application/json', 'text/plain', 'multipart/related; boundary=x', undefined, 'application/json; charset=utf-8'];

      const failures: string[] = [];
      const started = Date.now();
      let sent = 0;
      for (; sent < REQUESTS && Date.now() - started < BUDGET_MS; sent += 1) {
        const service = random();
        let url: string;
        const init: RequestInit & { headers: Record<string, string> } = { method: pick(methods), headers: {} };
        if (service < 0.85) {
          const base = random() < 0.9 ? `/${db}` : pick(['', '/_users', '/_all_dbs', '/_session', '/_uuids', '/userdb-00', '/_replicate']);
          const query = pick(queries);
          url = `${emu.couchUrl}${base}${pick(paths)}${query === '' ? '' : `?${query}`}`;
          if (random() < 0.95) Object.assign(init.headers, headers);
          if (random() < 0.2) init.headers.Destination = pick(['_design/copy', 'copy', '_local/copy']);
        } else if (service < 0.93) {
          url = `${emu.accountsUrl}${pick(['/couchdb/token/', '/couchdb/token', '/', '/x'])}`;
          if (random() < 0.7) init.headers.Authorization = pick([emu.bearerFor('fuzzer'), 'Bearer nope', 'Bearer feat-emu.x.y']);
        } else {
          url = `${emu.apiUrl}${pick(['/api/subscription/user-subscription/fetch/?followed_user=1', '/api/activity/comment/comment_count/?target_type=x', '/api/weixin-service/sign/', '/api/x'])}`;
          if (random() < 0.7) init.headers.Authorization = emu.bearerFor('fuzzer');
        }
        const method = init.method as string;
        if (method !== 'GET' && method !== 'HEAD' && random() < 0.8) {
          const type = pick(contentTypes);
          if (type !== undefined) init.headers['Content-Type'] = type;
          init.body = random() < 0.75 ? JSON.stringify(pick(bodies)) : pick(rawBodies);
        }
        const label = `#${sent} ${method} ${url.slice(0, 200)} ${typeof init.body === 'string' ? init.body.slice(0, 120) : ''}`;
        try {
          const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
          const text = await res.text();
          if (method !== 'HEAD' && res.status >= 500 && res.status !== 501 && !/^\s*[{[]/.test(text)) failures.push(`${label} → ${res.status} not JSON: ${text.slice(0, 100)}`);
        } catch (error) {
          failures.push(`${label} → ${String(error)}`);
        }
        if (sent % 50 === 0) {
          const alive = await fetch(`${emu.couchUrl}/${db}`, { headers, signal: AbortSignal.timeout(5_000) }).then((r) => r.status);
          if (alive !== 200) failures.push(`${label}: afterwards GET /${db} → ${alive}`);
        }
      }
      expect(failures).toEqual([]);
      expect(sent).toBeGreaterThan(50);
      const alive = await fetch(`${emu.couchUrl}/${db}/_all_docs`, { headers, signal: AbortSignal.timeout(5_000) });
      expect(alive.status).toBe(200);
      expect(existsSync(marker)).toBe(false);
    });
  });
}
