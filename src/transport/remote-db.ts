/**
 * The server's database as a {@link Db}: the requests PouchDB's http adapter (pouchdb-adapter-http 9) sends, with the
 * answers and errors shaped as it shapes them, over our transport (couch-fetch.ts: auth, resends, bounded requests).
 * It answers what the store, the queries and live sync (src/sync/live-*.ts) call; it replaces the http adapter,
 * pouchdb-fetch and the pouchdb-core they need (so remote-mode apps never load pouchdb-core).
 */
import type { StoredDoc } from '../store/codec.js';
import type { BulkResult, Change, ChangesFeed, Db } from '../store/db.js';
import { monotonicNow } from '../util/clock.js';
import { FeatError } from '../errors.js';
import { discard, readText } from './responses.js';

/**
 * The most bytes read of one answer of the database (decompressed: a gzip bomb stops here too). Its largest honest
 * answers — a batch of pulled documents, a page of an export — are far below it (a document is at most 8 MB, a chunk
 * of a big value one request); a server or proxy that sends more is not read on until memory runs out.
 */
const MAX_DB_ANSWER_BYTES = 128 * 1024 * 1024;

/** An answer's JSON, read within MAX_DB_ANSWER_BYTES (one that says its length larger is not read at all). */
async function bodyOf(response: Response, max = MAX_DB_ANSWER_BYTES): Promise<unknown> {
  const length = Number(response.headers.get('content-length') ?? Number.NaN);
  const tooLarge = () =>
    Object.assign(new FeatError('bad_response', `The server's answer is larger than ${max / 1024 / 1024} MiB: not read`, { url: response.url, status: response.status }), { answerTooLarge: true });
  // (Its length as sent: a compressed answer's says nothing of what it expands to.)
  const encoded = (response.headers.get('content-encoding') ?? 'identity').toLowerCase() !== 'identity';
  if (!encoded && Number.isFinite(length) && length > 0) {
    if (length > max) {
      discard(response);
      throw tooLarge();
    }
    return response.json();
  }
  const read = await readText(response, { maxBytes: max });
  if ('hit' in read) throw tooLarge();
  return JSON.parse(read.text);
}

type Json = Record<string, unknown>;
type Options = Record<string, unknown>;

/** Rows asked for per `_changes` request when the caller names no `batch_size` (PouchDB's value). */
const CHANGES_BATCH_SIZE = 25;
/** A live feed's heartbeat when the caller names none (PouchDB's value, ms). */
const DEFAULT_HEARTBEAT = 10_000;
/** The longest line a streamed changes feed may send (characters): a change with a document of 8 MB, escaped. */
const MAX_FEED_LINE = 32 * 1024 * 1024;
/** A stream that ends after this long (ms) completes its feed (its owner streams again); sooner, it fails it. */
const STREAM_PROVEN_MS = 5_000;

/**
 * The status of an error row of an array answer (`_bulk_docs`), which carries none: CouchDB's own status for the error
 * name (chttpd's `error_info`), e.g. a `validate_doc_update` that throws `{ forbidden }` refuses one document with 403.
 */
const ROW_STATUS: Record<string, number> = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  too_large: 413,
  document_too_large: 413,
};

/** PouchDB's error of a CouchDB answer `{ error, reason }`: `status`, `name` (the CouchDB error), `message` (its reason). */
function pouchError(body: Json, status?: number): Json {
  const conflict = body.error === 'conflict';
  const named = typeof body.error === 'string' && Object.hasOwn(ROW_STATUS, body.error) ? ROW_STATUS[body.error] : undefined;
  return {
    ...body,
    name: conflict ? 'conflict' : (body.name ?? body.error ?? 'unknown'),
    status: conflict ? 409 : (status ?? body.status ?? named ?? 500),
    message: body.message ?? body.reason,
  };
}

/** A thrown error: an `Error` (with a stack) carrying the same properties. */
const thrown = (body: Json, status: number): Error => {
  const shaped = pouchError(body, status);
  return Object.assign(new Error(typeof shaped.message === 'string' ? shaped.message : `HTTP ${status}`), shaped);
};

/** A document id in a URL path: `_design/` and `_local/` keep their slash. */
function encodeDocId(id: string): string {
  for (const prefix of ['_design/', '_local/']) if (id.startsWith(prefix)) return prefix + encodeURIComponent(id.slice(prefix.length));
  return encodeURIComponent(id);
}

function query(params: Options): string {
  const keys = Object.keys(params).filter((k) => params[k] !== undefined);
  return keys.length ? `?${keys.map((k) => `${k}=${encodeURIComponent(String(params[k]))}`).join('&')}` : '';
}

export interface RemoteDb extends Db {
  readonly name: string;
  readonly adapter: 'http';
  /** pouchdb-utils' `isRemote`. */
  readonly _remote: true;
  id(): Promise<string>;
  revsDiff(diff: Record<string, string[]>): Promise<Record<string, { missing: string[] }>>;
  bulkGet(options: { docs: { id: string; rev?: string }[]; revs?: boolean; latest?: boolean; attachments?: boolean }): Promise<{
    results: { id: string; docs: ({ ok: StoredDoc } | Json)[] }[];
  }>;
  /** A request to `path` below the database (or, with a leading `/`, below the server), as the http adapter's `fetch`. */
  fetch(path: string, init?: RequestInit): Promise<Response>;
}

/** The server's database at `url` (`{couchUrl}/{encoded name}`), every request through `fetchFn`. */
export function remoteDb(url: string, fetchFn: typeof fetch): RemoteDb {
  const base = url.replace(/\/+$/, '');
  const dbUrl = `${base}/`;
  const serverUrl = base.slice(0, base.lastIndexOf('/') + 1);
  const dbSegment = base.slice(base.lastIndexOf('/') + 1);

  /** A request below the database, JSON both ways unless `init` says otherwise; the answer as it came. */
  function send(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (!headers.has('Content-Type')) headers.set('Content-Type', 'application/json');
    if (!headers.has('Accept')) headers.set('Accept', 'application/json');
    return fetchFn(dbUrl + path, { ...init, headers });
  }

  /** `answered`: told when the answer's headers came (its body may take long to arrive: a big page over a slow link). */
  async function json<T>(path: string, init: RequestInit = {}, max?: number, answered?: () => void): Promise<T> {
    const response = await send(path, init);
    if (response.ok) answered?.();
    const data = await bodyOf(response, max);
    if (!response.ok) throw thrown((typeof data === 'object' && data !== null ? data : { error: 'unknown', reason: String(data) }) as Json, response.status);
    // Entries of an array answer (`_bulk_docs`, `open_revs`) that are errors or missing revisions: PouchDB's errors.
    if (Array.isArray(data)) return data.map((v: Json) => (v.error || v.missing ? pouchError(v) : v)) as T;
    return data as T;
  }

  const post = <T>(path: string, body: unknown, init: RequestInit = {}) => json<T>(path, { ...init, method: 'POST', body: JSON.stringify(body) });

  async function info(): Promise<Json> {
    const response = await fetchFn(dbUrl, { headers: new Headers() });
    const body = (await bodyOf(response)) as Json;
    // An error answer is an error (the http adapter handed its body on as if it were the database's info, which left
    // a changes feed from 'now' without a sequence, i.e. from 0).
    if (!response.ok) throw thrown(body, response.status);
    return { ...body, host: dbUrl, db_name: body.db_name ?? base, auto_compaction: false, adapter: 'http' };
  }

  const db: RemoteDb & Record<string, unknown> = {
    name: base,
    adapter: 'http',
    _remote: true,
    type: () => 'http',

    async id() {
      // As the http adapter: the server's uuid and the database's name; its URL when the server does not say. (The
      // replication's checkpoint id derives from it: the same answer keeps existing replicas' checkpoints.)
      let uuid: unknown;
      try {
        uuid = ((await (await fetchFn(serverUrl, { headers: new Headers() })).json()) as Json | null)?.uuid;
      } catch {
        uuid = undefined;
      }
      return uuid ? `${String(uuid)}${dbSegment}` : dbUrl;
    },

    info,

    async get(id, options = {}) {
      const o = options;
      const params: Options = {};
      if (o.revs) params.revs = true;
      if (o.revs_info) params.revs_info = true;
      if (o.latest) params.latest = true;
      if (o.open_revs) params.open_revs = o.open_revs === 'all' ? 'all' : JSON.stringify(o.open_revs);
      if (o.rev) params.rev = o.rev;
      if (o.conflicts) params.conflicts = o.conflicts;
      if (o.deleted_conflicts) params.deleted_conflicts = true;
      try {
        return await json<StoredDoc>(encodeDocId(id) + query(params));
      } catch (error) {
        throw Object.assign(error as object, { docId: encodeDocId(id) });
      }
    },

    async put(doc) {
      try {
        return await json<{ ok: boolean; id: string; rev: string }>(encodeDocId(doc._id), { method: 'PUT', body: JSON.stringify(doc) });
      } catch (error) {
        throw Object.assign(error as object, { docId: doc._id });
      }
    },

    async bulkDocs(docs, options = {}) {
      // PouchDB accepts `{ docs, new_edits }` as well as the array (its replication sends the former).
      const request = Array.isArray(docs) ? { docs } : (docs as { docs: StoredDoc[]; new_edits?: boolean });
      const newEdits = 'new_edits' in options ? options.new_edits !== false : (request as { new_edits?: boolean }).new_edits !== false;
      const results = await post<BulkResult[]>('_bulk_docs', { docs: request.docs, new_edits: newEdits });
      // CouchDB answers every document; PouchDB keeps only the failures when revisions are given (`new_edits: false`).
      return newEdits ? results : results.filter((r) => r.error);
    },

    allDocs(options = {}) {
      const o = options;
      const params: Options = {};
      if (o.conflicts) params.conflicts = true;
      if (o.update_seq) params.update_seq = true;
      if (o.descending) params.descending = true;
      if (o.include_docs) params.include_docs = true;
      if (o.key) params.key = JSON.stringify(o.key);
      const startkey = o.start_key ?? o.startkey;
      const endkey = o.end_key ?? o.endkey;
      if (startkey) params.startkey = JSON.stringify(startkey);
      if (endkey) params.endkey = JSON.stringify(endkey);
      if (o.inclusive_end !== undefined) params.inclusive_end = !!o.inclusive_end;
      if (o.limit !== undefined) params.limit = o.limit;
      if (o.skip !== undefined) params.skip = o.skip;
      const path = '_all_docs' + query(params);
      type Rows = Awaited<ReturnType<Db['allDocs']>>;
      return o.keys === undefined ? json<Rows>(path) : post<Rows>(path, { keys: o.keys });
    },

    changes: (options) => changesFeed(options),

    async revsDiff(diff) {
      // (Its answer is about as long as the question, which the proxy keeps within 1 MiB: 16 MiB at most.)
      const answer = await json<unknown>('_revs_diff', { method: 'POST', body: JSON.stringify(diff) }, 16 * 1024 * 1024);
      // What says which revisions reach the server: a malformed answer is no "nothing missing".
      const entries = typeof answer === 'object' && answer !== null && !Array.isArray(answer) ? Object.entries(answer) : undefined;
      const strings = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === 'string');
      if (!entries || !entries.every(([, d]) => typeof d === 'object' && d !== null && !Array.isArray(d) && (!('missing' in d) || strings((d as { missing?: unknown }).missing)))) {
        throw new FeatError('bad_response', 'The server answered _revs_diff with something that is not its documented shape');
      }
      return Object.fromEntries(entries) as Record<string, { missing: string[] }>;
    },

    bulkGet: ({ docs, revs, latest, attachments }) =>
      post<Awaited<ReturnType<RemoteDb['bulkGet']>>>(
        '_bulk_get' + query({ revs: revs ? true : undefined, latest: latest ? true : undefined, attachments: attachments ? true : undefined }),
        { docs },
      ),

    fetch: (path, init = {}) => fetchFn(path.startsWith('/') ? serverUrl + path.slice(1) : dbUrl + path, { ...init, headers: new Headers(init.headers) }),

    close: () => Promise.resolve(),

    async destroy() {
      await json('', { method: 'DELETE' }).catch((error: { status?: number }) => {
        if (error.status !== 404) throw error;
      });
    },
  };

  /**
   * PouchDB's changes feed over `_changes`: pages of `batch_size` (`limit` in all), each request answered before the
   * next; `live` keeps asking with `feed=longpoll` (bounded: the transport's silence limit counts the heartbeat), or,
   * with `feed: 'continuous'`, reads one streamed answer (see `follow`).
   * Settles with `{ results, last_seq }`, or `{ status: 'cancelled' }` once cancelled; a failure rejects it and is
   * emitted as `error`. `change` listeners get `(change, pending, lastSeq)` as the replication expects.
   */
  function changesFeed(options: Options): ChangesFeed {
    const o = { ...options };
    const live = !!(o.live ?? o.continuous);
    const returnDocs = 'return_docs' in o ? !!o.return_docs : !live;
    const batchSize = typeof o.batch_size === 'number' ? o.batch_size : CHANGES_BATCH_SIZE;
    const limit = typeof o.limit === 'number' ? (o.limit === 0 ? 1 : o.limit) : undefined;
    const listeners: Record<string, ((...args: never[]) => void)[]> = { change: [], complete: [], error: [] };
    const controller = new AbortController();
    let done = false;
    let settle!: (error: unknown, result?: unknown) => void;
    const promise = new Promise<unknown>((resolve, reject) => {
      settle = (error, result) => {
        if (done) return;
        done = true;
        // Settled first: a listener that throws must not leave the feed's promise pending.
        if (error) reject(error);
        else resolve(result);
        for (const l of error ? listeners.error! : listeners.complete!) {
          try {
            (l as (x: unknown) => void)(error ?? result);
          } catch (thrownByListener) {
            console.error(`Error in .on("${error ? 'error' : 'complete'}", function):`, thrownByListener);
          }
        }
        for (const k of Object.keys(listeners)) listeners[k] = [];
      };
    });
    // The feed's own handling of its result: a failure nobody awaits is reported through `error`, never unhandled.
    promise.catch(() => undefined);

    // A streamed feed (`feed: 'continuous'`): one request whose answer is a line per change as the server commits it.
    const stream = live && o.feed === 'continuous';
    const params: Options = {};
    if (o.timeout) params.timeout = o.timeout;
    if (o.style) params.style = o.style;
    if (o.include_docs) params.include_docs = true;
    if (live) params.feed = stream ? 'continuous' : 'longpoll';
    if (o.conflicts) params.conflicts = true;
    if (o.descending) params.descending = true;
    const heartbeat = 'heartbeat' in o ? o.heartbeat : live ? DEFAULT_HEARTBEAT : undefined;
    if (heartbeat) params.heartbeat = heartbeat;
    let body: Json | undefined;
    if (o.doc_ids) {
      params.filter = '_doc_ids';
      body = { doc_ids: o.doc_ids };
    } else if (o.selector) {
      params.filter = '_selector';
      body = { selector: o.selector };
    }

    const results: Change[] = [];
    let left = limit;
    let lastSeq: unknown;
    /** Every `_changes` request of this feed: a filter's body makes it a POST; `cancel()` aborts it. */
    const requestInit: RequestInit = { signal: controller.signal, method: body ? 'POST' : 'GET', ...(body ? { body: JSON.stringify(body) } : {}) };

    async function run(since: unknown): Promise<void> {
      // A failed info() fails the feed (never `since` 0).
      if (since === 'now' || since === 'latest') {
        since = (await info()).update_seq;
        if (since === undefined || since === null) throw thrown({ error: 'bad_response', reason: 'The database info has no update_seq' }, 502);
      }
      if (stream) return follow(since);
      // A page too large to read (documents near the size limit, many of them) is asked again half as long.
      let size = batchSize;
      for (;;) {
        if (done) return;
        const page = o.descending ? left : left === undefined || left > size ? size : left;
        const path = '_changes' + query({ ...params, since: typeof since === 'object' ? JSON.stringify(since) : since, limit: page });
        let res: { results?: Change[]; last_seq?: unknown; pending?: unknown };
        try {
          res = await json<typeof res>(path, requestInit, undefined, () => {
            for (const l of listeners.answered ?? []) (l as () => void)();
          });
        } catch (error) {
          if (!(error as { answerTooLarge?: unknown }).answerTooLarge || page === undefined || page <= 1 || done) throw error;
          size = Math.max(1, Math.floor(page / 2));
          continue;
        }
        if (done) return;
        const rows = res.results ?? [];
        lastSeq = res.last_seq;
        const pending = typeof res.pending === 'number' ? res.pending : null;
        const seq = typeof lastSeq === 'string' || typeof lastSeq === 'number' ? lastSeq : null;
        for (const change of rows) {
          if (left !== undefined) left--;
          deliver(change, pending, seq);
        }
        if (res.last_seq) since = res.last_seq;
        const limitReached = left !== undefined && left <= 0;
        const finished = limitReached || rows.length < size || !!o.descending;
        if (!(live && !limitReached) && finished) return settle(undefined, { results, last_seq: lastSeq });
      }
    }

    /** Hands one change to the listeners. */
    function deliver(change: Change, pending: number | null, seq: unknown): void {
      if (!o.include_docs) delete change.doc;
      else change.doc ??= {} as StoredDoc;
      if (returnDocs) results.push(change);
      for (const l of listeners.change!) {
        try {
          (l as (c: Change, p: number | null, s: unknown) => void)(change, pending, seq);
        } catch (error) {
          // As PouchDB: a throwing listener is reported and the feed goes on.
          console.error('Error in .on("change", function):', error);
        }
      }
    }

    /**
     * The streamed feed: each line of the answer is a change (or, at its end, `{ last_seq }`), handed on as it arrives.
     * With a heartbeat CouchDB keeps it open for good. When it ends anyway (a proxy's limit on a connection's life, a
     * restart) after STREAM_PROVEN_MS, the feed completes and its owner reads what it missed and streams again
     * (live-loop.ts); a stream that ends sooner fails the feed, so a server that ends every stream at once is asked
     * again only after the owner's backoff. A stream silent past heartbeat + `requestTimeout` fails with `timeout`,
     * marked `silentFromStart` when not a byte of it came (what a proxy that buffers answers looks like).
     * Whatever ends it, the connection is closed.
     */
    async function follow(since: unknown): Promise<void> {
      const path = '_changes' + query({ ...params, since: typeof since === 'object' ? JSON.stringify(since) : since });
      const started = monotonicNow();
      const silent = (error: unknown) => {
        if ((error as { code?: unknown } | null)?.code === 'timeout') Object.assign(error as object, { silentFromStart: true });
        return error;
      };
      const response = await send(path, requestInit).catch((error: unknown) => Promise.reject(silent(error)));
      if (!response.ok || !response.body) {
        const data = (await response.json().catch(() => ({ error: 'bad_response', reason: 'The changes feed answered without a body' }))) as Json;
        throw thrown(data, response.ok ? 502 : response.status);
      }
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      // The pieces of the line not complete yet (joined once it is: no copy of a long line per chunk), their length.
      let pieces: string[] = [];
      let pending = 0;
      let bytes = 0;
      try {
        for (;;) {
          let next: ReadableStreamReadResult<Uint8Array>;
          try {
            next = await reader.read();
          } catch (error) {
            throw bytes === 0 ? silent(error) : error;
          }
          if (done) return;
          if (next.done) {
            if (monotonicNow() - started >= STREAM_PROVEN_MS) return settle(undefined, { results, last_seq: lastSeq });
            throw thrown({ error: 'bad_response', reason: 'The changes feed stopped' }, 502);
          }
          bytes += next.value.byteLength;
          const text = decoder.decode(next.value, { stream: true });
          let start = 0;
          for (let end = text.indexOf('\n'); end >= 0 && !done; end = text.indexOf('\n', start)) {
            const piece = text.slice(start, end);
            const line = (pieces.length ? pieces.join('') + piece : piece).trim();
            pieces = [];
            pending = 0;
            start = end + 1;
            if (line) handleLine(line); // an empty one is a heartbeat
          }
          if (start < text.length) {
            pieces.push(text.slice(start));
            pending += text.length - start;
          }
          // A line is one change with its document (at most the server's document size limit, 8 MB by default).
          if (pending > MAX_FEED_LINE) throw thrown({ error: 'bad_response', reason: `The changes feed sent a line longer than ${MAX_FEED_LINE} characters` }, 502);
        }
      } finally {
        // Ended by an error line, a bad line or the limit: the server's stream is closed, not left open until it
        // times out (it would hold a connection while the next one opens).
        reader.cancel().catch(() => undefined);
      }
    }

    /** One line of the streamed feed: a change, the closing `{ last_seq }`, or an error. */
    function handleLine(line: string): void {
      let entry: unknown;
      try {
        entry = JSON.parse(line);
      } catch {
        throw thrown({ error: 'bad_response', reason: 'The changes feed sent a line that is not JSON' }, 502);
      }
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
        throw thrown({ error: 'bad_response', reason: 'The changes feed sent a line that is not an object' }, 502);
      }
      const change = entry as Json;
      if (change.error) throw thrown(change, 500);
      if ('last_seq' in change && !('id' in change)) return;
      lastSeq = change.seq;
      deliver(change as unknown as Change, null, lastSeq);
    }

    const feed = {
      then: promise.then.bind(promise),
      catch: promise.catch.bind(promise),
      on(event: string, listener: (...args: never[]) => void) {
        if (!done) (listeners[event] ??= []).push(listener);
        return feed;
      },
      cancel() {
        if (done) return;
        controller.abort();
        settle(undefined, { status: 'cancelled' });
      },
    };
    // Started on the next tick, as PouchDB's: listeners added right after `changes()` see every change.
    queueMicrotask(() => void run(o.since ?? 0).catch((error: unknown) => settle(error)));
    return feed as unknown as ChangesFeed;
  }

  return db;
}
