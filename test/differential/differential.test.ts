/**
 * The differential test (issue #22): the requests the SDK itself makes during the store contract suite, recorded
 * through its `fetch` option, replayed against the emulator and against Apache CouchDB 3.4 behind the deployment's
 * nginx, and compared on what the SDK depends on: status, `error`/`reason`, the body fields it reads, the content type.
 * Known, accepted differences are listed in `accepted.json` beside this file, each with its reason; any other
 * difference fails the test.
 *
 * Runs where a real CouchDB answers (`COUCH_URL`, default http://127.0.0.1:5984; see the README's contributing
 * section); elsewhere it is skipped with that reason in its name.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
// Both backends at once: the emulator from its source (the `@feat/emulator` alias may point at the real stack).
import { startEmulator as startEmulatorBackend, userDbName, type Emulator } from '../../src/emulator/index.js';
import { startEmulator as startRealBackend } from '../support/real-emulator.js';
import type { Exchange } from '../support/recorder.js';
import { createFeatClient, type FeatClient } from '@feat/sdk';
import { mangoCases } from './mango-fuzz.js';

const COUCH = process.env.COUCH_URL ?? 'http://127.0.0.1:5984';
const root = fileURLToPath(new URL('../..', import.meta.url));
const here = path.dirname(fileURLToPath(import.meta.url));

async function realServerAnswers(): Promise<boolean> {
  try {
    const r = await fetch(COUCH, { signal: AbortSignal.timeout(1_000) });
    return r.status === 200 || r.status === 401;
  } catch {
    return false;
  }
}
const available = await realServerAnswers();

interface Accepted {
  /** A regular expression matched against a difference's signature (`METHOD template aspect: emulator … real …`). */
  match: string;
  reason: string;
}

const REV = /^\d+-[0-9a-f]{32}$/;
const SEQ_KEYS = new Set(['seq', 'last_seq', 'update_seq', 'since']);
const REV_KEYS = new Set(['rev', '_rev']);

/** Recorded value → value on one backend, learned from the answers as the replay goes. */
class Mapping {
  readonly values = new Map<string, string>();
  learn(recorded: unknown, replayed: unknown, key = ''): void {
    if (typeof recorded === 'string' && typeof replayed === 'string') {
      // A revision the server made (a rev field; not one of _revisions' bare hashes), at the same position.
      if (REV_KEYS.has(key) && REV.test(recorded) && REV.test(replayed) && recorded !== replayed && parseInt(recorded, 10) === parseInt(replayed, 10)) {
        this.values.set(recorded, replayed);
        this.values.set(recorded.slice(recorded.indexOf('-') + 1), replayed.slice(replayed.indexOf('-') + 1));
      } else if (SEQ_KEYS.has(key) && recorded !== '0') this.values.set(recorded, replayed);
      return;
    }
    if ((typeof recorded === 'number' || recorded === null) && recorded !== 0 && SEQ_KEYS.has(key) && replayed !== undefined) {
      this.values.set(String(recorded), typeof replayed === 'string' ? replayed : JSON.stringify(replayed));
      return;
    }
    if (Array.isArray(recorded) && Array.isArray(replayed)) {
      // Rows and results are matched by their document id (servers may list them in another order), else by position.
      const idOf = (v: unknown) => (v && typeof v === 'object' ? ((v as { id?: unknown; _id?: unknown }).id ?? (v as { _id?: unknown })._id) : undefined);
      const byId = new Map(replayed.map((r) => [idOf(r), r] as const).filter(([id]) => typeof id === 'string'));
      recorded.forEach((r, i) => {
        const id = idOf(r);
        this.learn(r, typeof id === 'string' && byId.has(id) ? byId.get(id) : replayed[i], key);
      });
    } else if (recorded && replayed && typeof recorded === 'object' && typeof replayed === 'object') {
      for (const [k, v] of Object.entries(recorded)) this.learn(v, (replayed as Record<string, unknown>)[k], k);
    }
  }
  /** Rewrites revisions (and their hashes) and sequences of the recording into this backend's. */
  body(value: unknown, key = ''): unknown {
    if (typeof value === 'string') return this.values.get(value) ?? value;
    if (typeof value === 'number' && SEQ_KEYS.has(key)) {
      const mapped = this.values.get(String(value));
      return mapped === undefined ? value : mapped.startsWith('"') ? (JSON.parse(mapped) as unknown) : mapped;
    }
    if (Array.isArray(value)) return value.map((v) => this.body(v, key));
    if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.body(v, k)]));
    return value;
  }
  url(url: URL): URL {
    const out = new URL(url);
    for (const [name, value] of url.searchParams) {
      let next = this.values.get(value) ?? value;
      if (name === 'open_revs' || name === 'revs' || name === 'atts_since') {
        try {
          next = JSON.stringify(this.body(JSON.parse(value)));
        } catch {
          /* not JSON: kept */
        }
      }
      out.searchParams.set(name, next);
    }
    // Document ids never look like revisions; a revision in the path is not expected, but is mapped all the same.
    return out;
  }
}

interface Target {
  name: 'emulator' | 'real';
  backend: Emulator;
  /** One mapping per recorded user: sequences are per database (an opaque one names its database). */
  maps: Map<string, Mapping>;
  users: Map<string, string>;
}

const parse = (text: string): unknown => {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
};

/** The path with the database and document ids replaced by placeholders: what differences are grouped by. */
function template(url: URL): string {
  return url.pathname
    .replace(/^\/userdb-[0-9a-f]+/, '/{db}')
    .replace(/^\/_users\/org\.couchdb\.user(:|%3A).*/i, '/_users/org.couchdb.user:{name}')
    .replace(/\/_local\/[^/]+$/, '/_local/{id}')
    .replace(/^\/\{db\}\/(?!_)[^/]+$/, '/{db}/{id}');
}

/** What the SDK reads of an answer, with revisions and sequences (different on every server) blanked. */
function normalize(value: unknown, key = ''): unknown {
  if (typeof value === 'string') return REV.test(value) ? '<rev>' : SEQ_KEYS.has(key) ? '<seq>' : value;
  if (typeof value === 'number' && SEQ_KEYS.has(key)) return '<seq>';
  if (Array.isArray(value)) return value.map((v) => normalize(v, key));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    // `offset` (rows before startkey): CouchDB counts them, PouchDB answers 0; nothing reads it (accepted, not compared).
    for (const k of Object.keys(value).sort()) if (k !== 'offset') out[k] = normalize((value as Record<string, unknown>)[k], k);
    return out;
  }
  return value;
}

/** Answers compared by status and top-level fields only: server information and feeds that depend on timing. */
const SHALLOW = [/^GET \/$/, /^GET \/\{db\}\/$/, /^GET \/\{db\}\/_changes$/, /^POST \/\{db\}\/_changes$/];

async function replay(exchange: Exchange, target: Target): Promise<{ status: number; type: string | null; body: string }> {
  const recordedUrl = new URL(exchange.url);
  const recordedUser = exchange.headers['x-auth-couchdb-username'] ?? '';
  const user = target.users.get(recordedUser) ?? recordedUser;
  let map = target.maps.get(recordedUser);
  if (!map) target.maps.set(recordedUser, (map = new Mapping()));
  let url = map.url(new URL(recordedUrl.pathname + recordedUrl.search, target.backend.couchUrl));
  if (recordedUser) {
    const from = userDbName(recordedUser);
    url = new URL(
      url.href.replace(from, userDbName(user)).replace(encodeURIComponent(`org.couchdb.user:${recordedUser}`), encodeURIComponent(`org.couchdb.user:${user}`)),
    );
  }
  if (url.searchParams.get('feed') === 'longpoll' || url.searchParams.get('feed') === 'continuous') {
    // A long-poll with nothing new would wait for its timeout, and a stream with a heartbeat never ends: the replay
    // waits a moment at most (a stream with a timeout and no heartbeat ends once quiet that long, with `{ last_seq }`).
    url.searchParams.set('timeout', '200');
    url.searchParams.delete('heartbeat');
  }
  const headers: Record<string, string> = {};
  for (const name of ['accept', 'content-type']) if (exchange.headers[name]) headers[name] = exchange.headers[name];
  if (recordedUser) Object.assign(headers, target.backend.couchHeadersFor(user));
  let body = exchange.body;
  if (body !== null) {
    const json = parse(body);
    if (json !== undefined) {
      body = JSON.stringify(map.body(json)).replaceAll(userDbName(recordedUser), userDbName(user));
      if (recordedUser) body = body.replaceAll(`"${recordedUser}"`, `"${user}"`);
    }
  }
  let response: Response;
  let text: string;
  try {
    response = await fetch(url, { method: exchange.method, headers, body, signal: AbortSignal.timeout(10_000) });
    text = await response.text();
  } catch (error) {
    // No answer is a difference like any other (the emulator used to crash or hang on some requests).
    return { status: 0, type: null, body: `no answer: ${(error as Error).name}` };
  }
  const json = parse(text);
  if (json !== undefined) map.learn(parse(exchange.response), json);
  return { status: response.status, type: response.headers.get('content-type'), body: text };
}

/** The recording: the contract suite run once on the emulator with `FEAT_RECORD`. */
async function record(file: string): Promise<Exchange[]> {
  const env: NodeJS.ProcessEnv = { ...process.env, FEAT_RECORD: file };
  delete env.FEAT_BACKEND;
  delete env.VITEST;
  delete env.VITEST_POOL_ID;
  delete env.VITEST_WORKER_ID;
  let output = '';
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, [path.join(root, 'node_modules/vitest/vitest.mjs'), 'run', 'test/contract/store.test.ts'], {
      cwd: root,
      env: { ...env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // What the run printed last, for the failure message (the run's summary and its failures).
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-6_000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('exit', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  expect(code, `the recording run of the contract suite failed on the emulator:\n${output}`).toBe(0);
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Exchange)
    .sort((a, b) => a.seq - b.seq);
}

describe.runIf(available)('differential: the SDK’s own requests, emulator vs CouchDB 3.4 behind nginx', () => {
  it('answers alike, except the accepted differences (accepted.json)', { timeout: 900_000 }, async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'feat-differential-'));
    const accepted = JSON.parse(readFileSync(path.join(here, 'accepted.json'), 'utf8')) as Accepted[];
    const exchanges = (await record(path.join(dir, 'recording.jsonl'))).filter((e) => !new URL(e.url).pathname.startsWith('/couchdb/'));
    const run = Date.now().toString(36);
    const targets: Target[] = [
      { name: 'emulator', backend: await startEmulatorBackend({ port: 0, profile: 'couchdb' }), maps: new Map(), users: new Map() },
      { name: 'real', backend: await startRealBackend(), maps: new Map(), users: new Map() },
    ];
    const differences = new Map<string, number>();
    const examples = new Map<string, string>();
    let current: Exchange | undefined;
    const note = (signature: string) => {
      differences.set(signature, (differences.get(signature) ?? 0) + 1);
      if (current && !examples.has(signature)) examples.set(signature, `${current.method} ${new URL(current.url).pathname}${new URL(current.url).search} ${current.body?.slice(0, 200) ?? ''}`);
    };
    let n = 0;
    try {
      for (const exchange of exchanges) {
        current = exchange;
        const recordedUser = exchange.headers['x-auth-couchdb-username'];
        if (recordedUser !== undefined && !targets[0]!.users.has(recordedUser)) {
          const user = `diff-${run}-${n++}`;
          for (const t of targets) {
            t.users.set(recordedUser, user);
            await t.backend.createUser(user);
          }
        }
        const [emulator, real] = [await replay(exchange, targets[0]!), await replay(exchange, targets[1]!)];
        const route = `${exchange.method} ${template(new URL(exchange.url))}`;
        if (emulator.status !== real.status) note(`${route} status: emulator ${emulator.status} real ${real.status}`);
        const [e, r] = [parse(emulator.body), parse(real.body)];
        if ((e === undefined) !== (r === undefined)) note(`${route} json: emulator ${e !== undefined} real ${r !== undefined}`);
        if (emulator.type?.split(';')[0] !== real.type?.split(';')[0]) note(`${route} content-type: emulator ${emulator.type} real ${real.type}`);
        if (new URL(exchange.url).searchParams.get('feed') === 'continuous' && emulator.status === 200 && real.status === 200) {
          // A stream: a JSON object per line, the last one `{ last_seq, pending }`; compared by the last line's fields.
          const last = (body: string) => {
            const line = body.trim().split('\n').at(-1) ?? '';
            const value = parse(line);
            return value && typeof value === 'object' ? Object.keys(value).sort().join(',') : `not JSON: ${line.slice(0, 40)}`;
          };
          if (last(emulator.body) !== last(real.body)) note(`${route} stream end: emulator ${last(emulator.body)} real ${last(real.body)}`);
          continue;
        }
        if (e === undefined || r === undefined || emulator.status !== real.status) continue;
        const [ne, nr] = [normalize(e), normalize(r)];
        if (SHALLOW.some((re) => re.test(route))) {
          const keys = (v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.keys(v).sort().join(',') : typeof v);
          if (route.includes('_changes') && keys(ne) !== keys(nr)) note(`${route} fields: emulator ${keys(ne)} real ${keys(nr)}`);
          continue;
        }
        if (JSON.stringify(ne) !== JSON.stringify(nr)) note(`${route} body: emulator ${JSON.stringify(ne).slice(0, 300)} real ${JSON.stringify(nr).slice(0, 300)}`);
      }
    } finally {
      await Promise.allSettled(targets.map((t) => t.backend.stop()));
      rmSync(dir, { recursive: true, force: true });
    }
    const report = [...differences].map(([signature, count]) => `${count}× ${signature}`);
    const detail = [...differences.keys()].map((signature) => `${signature}\n    e.g. ${examples.get(signature)}`);
    console.log(`differential: ${exchanges.length} requests replayed on both; ${differences.size} kinds of difference\n${detail.join('\n')}`);
    const unexplained = report.filter((line) => !accepted.some((a) => new RegExp(a.match).test(line)));
    expect(unexplained, 'differences not listed in test/differential/accepted.json').toEqual([]);
  });
});

describe.runIf(available)('differential: Mango, CouchDB 3.4 itself vs the SDK on the emulator (remote) and on the replica', () => {
  /**
   * Random selectors (seeded) over random values (with missing fields, `null` and scalars where objects are expected,
   * or not): remote mode on the emulator and the replica must answer every one as CouchDB does (their strings are
   * ASCII of one case: collation and `$regex` on bytes are the documented differences). A selector CouchDB itself fails
   * on (500 "empty": two conditions of one field whose index ranges do not meet) is left out.
   */
  it.each([
    [1, false],
    [2, false],
    [4, true],
    [5, true],
    [6, true],
  ])('seed %i (missing fields and null: %s) answers alike', { timeout: 300_000 }, async (seed, missing) => {
    const admin = `Basic ${Buffer.from(process.env.COUCH_ADMIN ?? 'admin:adminpass').toString('base64')}`;
    const couch = async (p: string, method: string, body?: unknown) => {
      const r = await fetch(COUCH + p, { method, headers: { authorization: admin, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
      return { status: r.status, json: (await r.json()) as { docs?: { _id: string }[]; reason?: string } };
    };
    const cases = mangoCases(seed, { missing });
    const db = `feat-mango-differential-${Date.now().toString(36)}-${seed}`;
    const emulator = await startEmulatorBackend({ port: 0, profile: 'couchdb' });
    const clients: FeatClient[] = [];
    try {
      expect((await couch(`/${db}`, 'PUT')).status).toBe(201);
      await couch(`/${db}/_bulk_docs`, 'POST', { docs: Object.entries(cases.docs).map(([k, v]) => ({ _id: k, doc: v })) });
      const open = (mode: 'remote' | 'local-first') => {
        const c = createFeatClient({ couchUrl: emulator.couchUrl, accountsUrl: emulator.accountsUrl, auth: emulator.bearerFor('mango-fuzz'), mode, local: { adapter: 'memory' } });
        clients.push(c);
        return c;
      };
      const remote = open('remote');
      await remote.ready();
      await Promise.all(Object.entries(cases.docs).map(([k, v]) => remote.store.set(k, v)));
      const local = open('local-first');
      await local.ready();
      const total = Object.keys(cases.docs).length;
      for (let i = 0; (await local.store.keys()).length < total; i++) {
        if (i > 200) throw new Error('the replica did not pull the values');
        await new Promise((r) => setTimeout(r, 50));
      }
      const differences: string[] = [];
      const quiet = { onWarning: () => undefined };
      for (let i = 0; i < 150; i++) {
        const selector = cases.selector();
        const truth = await couch(`/${db}/_find`, 'POST', { selector: cases.underDoc(selector), limit: 1000 });
        if (truth.status === 500 && truth.json.reason === 'empty') continue;
        // A selector CouchDB refuses (400) must be refused by the SDK too (invalid_argument, before any request).
        const expected = truth.status === 200 ? truth.json.docs!.map((d) => d._id).sort() : 'refused';
        const answer = (c: FeatClient) =>
          c.store.find({ selector }, quiet).then(
            (rs) => rs.map((r) => r.key).sort(),
            (e: Error & { code?: string }) => (truth.status === 400 && e.code === 'invalid_argument' ? 'refused' : `error: ${e.message}`),
          );
        const [r, l] = await Promise.all([answer(remote), answer(local)]);
        const same = (x: unknown) => JSON.stringify(x) === JSON.stringify(expected);
        if (!same(r) || !same(l)) differences.push(`${JSON.stringify(selector)}: CouchDB ${JSON.stringify(expected)}, remote ${JSON.stringify(r)}, local ${JSON.stringify(l)}`);
      }
      expect(differences).toEqual([]);
    } finally {
      await Promise.allSettled(clients.map((c) => c.close()));
      await emulator.stop();
      await couch(`/${db}`, 'DELETE').catch(() => undefined);
    }
  });
});

describe.skipIf(available)(`differential [needs a real CouchDB at ${COUCH}: see README, Contributing]`, () => {
  it.skip('emulator vs CouchDB 3.4 behind nginx', () => undefined);
});
