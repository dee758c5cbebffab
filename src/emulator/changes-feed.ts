/**
 * `GET|POST /{db}/_changes`, every feed (`normal`, `longpoll`, `continuous`/`live`/`eventsource`), served by the
 * emulator itself: express-pouchdb's version never ends a continuous feed's heartbeat timer, ignores `timeout`, and runs
 * filter functions from design documents in the emulator's process. Semantics follow CouchDB 3.4: heartbeats are
 * newlines; without a heartbeat a waiting feed ends after `timeout` ms (default 60 s); `pending` counts the changes
 * after the last row (in every feed); only the built-in filters `_doc_ids`, `_selector` and `_design` run (`_view` and
 * `ddoc/filter` answer 404 when the design document is missing, otherwise 501: no JavaScript here).
 */
import type { Request, Response } from 'express';
import { badRequest, hashEtag, HttpError, leafRevsInDocInfoOrder } from './couch-docs.js';
import type { Fidelity } from './fidelity.js';
import { sleep } from './fidelity.js';
import { checkSelectorRegexes, NO_JAVASCRIPT } from './guard.js';
import { etagsOf, sendNginxError } from './http.js';
import { changesSelector } from './mango.js';
import type { Database } from './storage.js';

type Query = Record<string, unknown>;
type Change = PouchDB.Core.ChangesResponseChange<Record<string, unknown>>;
type ChangesOptions = PouchDB.Core.ChangesOptions & Record<string, unknown>;

/** The first string of a query parameter (express parses repeated ones as arrays). */
/**
 * A normal or long-poll feed's body laid out as CouchDB 3.4 writes it: `{"results":[` and a newline first, rows
 * separated by `,\r\n`, then `\n],\n"last_seq":…,"pending":…}`. Any JSON parser reads the same object; a client
 * that reads the stream sees what the real server sends.
 */
const RESULTS_OPEN = '{"results":[\n';
/** CouchDB's `changes_timeout` (60 s): the longest a feed waits, and the longest heartbeat interval. */
const CHANGES_TIMEOUT = 60_000;
const rowsText = (rows: unknown[]): string => rows.map((r) => JSON.stringify(r)).join(',\r\n');
const resultsClose = (lastSeq: unknown, pending: number): string =>
  `\n],\n"last_seq":${JSON.stringify(lastSeq)},"pending":${pending}}\n`;

export const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : Array.isArray(v) && typeof v[0] === 'string' ? v[0] : undefined);
const bool = (v: unknown): boolean => str(v) === 'true';

const FEEDS: Record<string, 'normal' | 'longpoll' | 'continuous'> = {
  normal: 'normal',
  longpoll: 'longpoll',
  continuous: 'continuous',
  live: 'continuous',
  eventsource: 'continuous',
};

function json(v: string | undefined): unknown {
  if (v === undefined) return undefined;
  try {
    return JSON.parse(v);
  } catch {
    return undefined;
  }
}

function positive(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

/** Erlang's `list_to_integer`: an optional sign and digits. */
const INTEGER = /^[+-]?\d+$/;

/**
 * What CouchDB answers to parameters it cannot read (chttpd_db's `parse_changes_query`): a `limit`, `timeout` or
 * `style` it cannot convert is a 500 `badarg` (a long poll with `timeout=abc` waited the 60 s default instead); a
 * `heartbeat` that is not an integer, or one below 1, a 400, as is a `seq_interval` that is not an integer above 0
 * (`invalid_seq_interval`). A negative `limit` is no limit. A negative `timeout` is read (`list_to_integer`): a normal
 * feed ignores it, a waiting feed crashes on it (see {@link serveChanges}).
 */
function checkParams(query: Query): void {
  const limit = str(query.limit);
  const style = str(query.style);
  const timeout = str(query.timeout);
  if ((limit !== undefined && !INTEGER.test(limit)) || (timeout !== undefined && !INTEGER.test(timeout)) || (style !== undefined && style !== 'main_only' && style !== 'all_docs')) {
    throw new HttpError(500, 'unknown_error', 'badarg');
  }
  // A `seq_interval` that is not an integer above 0 (a `+` in the query string is a space: `+2` is refused too).
  const seqInterval = str(query.seq_interval);
  if (seqInterval !== undefined && !(INTEGER.test(seqInterval) && Number(seqInterval) > 0)) throw badRequest('invalid_seq_interval');
  const heartbeat = str(query.heartbeat);
  if (heartbeat === undefined || heartbeat === 'true') return;
  if (!INTEGER.test(heartbeat)) throw badRequest('Invalid heartbeat value. Expecting a positive integer value (in milliseconds).');
  if (Number(heartbeat) < 1) throw badRequest('The heartbeat value should be a positive integer (in milliseconds).');
}

/**
 * couch_changes:check_member_exists: the design document (404 `missing` without one), then its `filters`/`views`
 * member and the named function in it (404 `missing json key: <key>`).
 */
async function checkDdocMember(db: Database, name: string, path: string[]): Promise<void> {
  let value = (await db.get(`_design/${name}`).catch(() => undefined)) as unknown;
  if (value === undefined) throw new HttpError(404, 'not_found', 'missing');
  for (const key of path) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new HttpError(404, 'not_found', 'json_mismatch');
    value = (value as Record<string, unknown>)[key];
    if (value === undefined || value === null) throw new HttpError(404, 'not_found', `missing json key: ${key}`);
  }
}

const isDesign = (doc: { _id?: unknown }) => typeof doc._id === 'string' && doc._id.startsWith('_design/');

/** PouchDB changes() options from CouchDB query parameters and body; throws {@link HttpError} like CouchDB. */
async function changesOptions(db: Database, query: Query, body: unknown, post: boolean): Promise<{ opts: ChangesOptions; pendingFromLastRow: boolean }> {
  const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const opts: ChangesOptions = {
    include_docs: bool(query.include_docs),
    conflicts: bool(query.conflicts),
    attachments: bool(query.attachments),
    descending: bool(query.descending),
  };
  if (str(query.style) === 'all_docs') opts.style = 'all_docs';
  const filter = str(query.filter);
  if (filter === undefined || filter === '') return { opts, pendingFromLastRow: false };
  if (filter === '_doc_ids') {
    const fromQuery = str(query.doc_ids);
    if (b.doc_ids === undefined && fromQuery !== undefined && json(fromQuery) === undefined) throw badRequest('invalid UTF-8 JSON');
    const ids = b.doc_ids ?? json(fromQuery);
    if (!Array.isArray(ids) || !ids.every((id) => typeof id === 'string')) throw badRequest('`doc_ids` filter parameter is not a list of doc ids.');
    opts.doc_ids = ids;
  } else if (filter === '_selector') {
    // couch_changes:get_selector_and_fields/1: a GET has no selector; a POST's must be an object.
    if (!post) throw badRequest('Selector must be specified in POST payload');
    if (typeof b.selector !== 'object' || b.selector === null || Array.isArray(b.selector)) throw badRequest('Selector error: expected a JSON object');
    checkSelectorRegexes(b.selector);
    // Matched by CouchDB's rules (mango-match.ts), as `_find` is, not PouchDB's (its `$regex` is JavaScript's).
    try {
      opts.filter = changesSelector(b.selector as Record<string, unknown>);
    } catch (error) {
      throw badRequest((error as Error).message);
    }
  } else if (filter === '_design') {
    opts.filter = isDesign;
  } else {
    const view = str(query.view);
    if (filter === '_view' && view === undefined) throw badRequest('`view` filter parameter is not provided.');
    if (filter !== '_view' && filter.startsWith('_')) throw badRequest('unknown builtin filter name');
    if (filter !== '_view' && !filter.includes('/')) throw badRequest('`filter` must be of the form `designname/filtername`');
    const [ddoc = '', fn = ''] = (filter === '_view' ? (view as string) : filter).split('/');
    await checkDdocMember(db, ddoc, [filter === '_view' ? 'views' : 'filters', fn]);
    throw new HttpError(NO_JAVASCRIPT.status, NO_JAVASCRIPT.body.error, NO_JAVASCRIPT.body.reason);
  }
  return { opts, pendingFromLastRow: filter === '_doc_ids' || filter === '_design' };
}

/** How many changes (any document) come after `seq`: CouchDB's `pending`. */
async function pendingAfter(db: Database, seq: number): Promise<number> {
  const rest = await db.changes({ since: seq, return_docs: true });
  return rest.results.length;
}

/** How many changes come before `seq`: CouchDB's `pending` of a descending feed. */
async function pendingBefore(db: Database, seq: number): Promise<number> {
  const all = await db.changes({ since: 0, return_docs: true });
  return all.results.filter((c) => Number(c.seq) < seq).length;
}

/** `style=all_docs`: a change's leaves in CouchDB's order (the winner, then the other live ones, then the deleted ones). */
async function inLeafOrder(db: Database, change: Change): Promise<Change> {
  if (change.changes.length < 2) return change;
  const order = await leafRevsInDocInfoOrder(db, change.id);
  const rank = (rev: string) => {
    const i = order.indexOf(rev);
    return i === -1 ? order.length : i;
  };
  return { ...change, changes: [...change.changes].sort((a, b) => rank(a.rev) - rank(b.rev)) };
}

/** Reads on after a read that reached the end, at most this many times (each reads what the one before let pass). */
const CATCH_UP_ROUNDS = 10;

/**
 * A normal read (or a long poll's first one) that leaves out no document written while it ran, without holding writes
 * up. CouchDB folds over a snapshot of its by-sequence index: such a document is listed at the sequence it had. PouchDB's
 * adapters read only up to where they started, and skip a row whose document has moved on since (measured: 6 of 8 reads
 * of 1,500 documents left out the one written meanwhile). A read that reached the end reads on from its last sequence,
 * so such a document comes at its newer sequence (listed once: an earlier row of it is dropped), as a read that started
 * a moment later lists it. (A first version had writes wait for reads: a write beside a long read took most of its
 * time, where CouchDB answers at once.)
 */
async function readThrough(db: Database, opts: PouchDB.Core.ChangesOptions, since: number, limit: number | undefined): Promise<{ results: Change[]; last_seq: number | string }> {
  const read = (from: number | string, max: number | undefined) =>
    db.changes({ ...opts, since: from, live: false, ...(max === undefined ? {} : { limit: max }) }) as unknown as Promise<{ results: Change[]; last_seq: number | string }>;
  const page = await read(since, limit);
  // (Descending, the read starts at the newest change: nothing was written past where it started.)
  for (let round = 0; round < CATCH_UP_ROUNDS && !opts.descending; round += 1) {
    if (limit !== undefined && page.results.length >= limit) break;
    const more = await read(page.last_seq, limit === undefined ? undefined : limit - page.results.length);
    if (more.results.length === 0) break;
    const again = new Set(more.results.map((c) => c.id));
    page.results = [...page.results.filter((c) => !again.has(c.id)), ...more.results];
    page.last_seq = more.last_seq;
  }
  return page;
}

/**
 * A normal feed's ETag (chttpd_db:handle_changes_req1: a hash of the database's info, whatever the query): another
 * after every document write, and for a database deleted and made again (PouchDB's instance id). CouchDB's changes
 * with a `_local` write too (the database's sizes); the feed's rows do not.
 */
async function changesEtag(db: Database, dbName: string): Promise<string> {
  const info = await db.info();
  const instance = await (db as unknown as { id(): Promise<string> }).id();
  return hashEtag([dbName, instance, info.update_seq, info.doc_count]);
}

/**
 * Serves `_changes`; `dbName` keys the opaque sequences of the `'couchdb'` profile. `ifNoneMatch`: the request's
 * `If-None-Match` (a normal feed whose ETag it names → 304 with no body, as couch_httpd:etag_respond answers).
 */
export async function serveChanges(db: Database, dbName: string, req: Request, res: Response, fidelity: Fidelity, instance: string, ifNoneMatch?: string): Promise<void> {
  const query = req.query as Query;
  const feedParam = str(query.feed) ?? 'normal';
  // (Own entries only: `feed=constructor` is no feed type.)
  let feed = Object.hasOwn(FEEDS, feedParam) ? FEEDS[feedParam] : undefined;
  if (feed === undefined) {
    if (fidelity.strict) throw badRequest('Supported `feed` types: normal, continuous, live, longpoll, eventsource');
    feed = 'normal';
  }
  checkParams(query);
  // chttpd_db:parse_changes_query: the query's `since` or `last-event-id`, the later one winning (not a `since` in a POST
  // body: measured), overridden for an eventsource feed by a `Last-Event-ID` header (a browser reconnecting).
  const header = feedParam === 'eventsource' ? str(req.headers['last-event-id']) : undefined;
  const raw = req.originalUrl.split('?')[1] ?? '';
  const laterOfTwo = raw.lastIndexOf('last-event-id=') > raw.search(/(^|&)since=/) ? str(query['last-event-id']) : str(query.since);
  const sinceParam = header ?? laterOfTwo ?? str(query.since) ?? str(query['last-event-id']) ?? '0';
  const decoded = fidelity.decodeSeq(dbName, sinceParam, instance);
  if (decoded === undefined) throw badRequest("Malformed sequence supplied in 'since' parameter.");
  // A long poll, continuous or eventsource feed with a negative `timeout` and no heartbeat (which replaces the timeout):
  // CouchDB's feed process fails on it and the connection closes with no answer at all, also with changes to send;
  // nginx answers its 502 page (measured, 3.4.3).
  if (feed !== 'normal' && Number(str(query.timeout)) < 0 && str(query.heartbeat) === undefined) return sendNginxError(res, 502);
  const { opts, pendingFromLastRow } = await changesOptions(db, query, req.body, req.method === 'POST');
  if (feed === 'normal') {
    const etag = await changesEtag(db, dbName);
    res.setHeader('ETag', etag);
    if (ifNoneMatch !== undefined && etagsOf(ifNoneMatch).includes(etag)) {
      res.status(304).end();
      return;
    }
  }
  const limitParam = str(query.limit);
  // checkParams let only integers through: `-0` is 0, a negative one no limit.
  const limit = limitParam === undefined || Number(limitParam) < 0 ? undefined : Number(limitParam);
  // checkParams let only integers above 0 through.
  const seqInterval = fidelity.strict && str(query.seq_interval) !== undefined ? Number(str(query.seq_interval)) : undefined;
  const enc = (seq: unknown) => (typeof seq === 'number' ? fidelity.encodeSeq(dbName, seq, instance) : seq);
  // `seq` first, as CouchDB writes it.
  const row = ({ seq, ...rest }: Change, i = 0, last = true) => ({
    seq: seqInterval !== undefined && i % seqInterval !== 0 && !last ? null : enc(seq),
    ...rest,
  });

  let since = decoded === 'now' ? Number((await db.info()).update_seq) : decoded;

  if (feed !== 'continuous') {
    // Normal feed, or a long poll with something to report at once.
    const first: { results: Change[]; last_seq: number | string } = limit === 0 ? { results: [], last_seq: since } : await readThrough(db, opts, since, limit);
    if (opts.style === 'all_docs') first.results = await Promise.all(first.results.map((c) => inLeafOrder(db, c)));
    if (feed === 'normal' || first.results.length > 0) {
      const lastRow = first.results[first.results.length - 1];
      // Fewer rows than the limit: the feed read to the end, nothing is pending — also when `_selector` let none
      // through. `_doc_ids` and `_design` read only the documents they name (fabric_rpc:changes): `pending` is every
      // change since `since` less the rows sent (measured: `_design` matching nothing → every change pending; a
      // `_doc_ids` naming the newest change → the others pending).
      const exhausted = !pendingFromLastRow && limit !== 0 && (limit === undefined || first.results.length < limit);
      // Descending: the changes older than the last row sent (none without a row or a limit reached).
      const pending =
        pendingFromLastRow && !opts.descending
          ? Math.max(0, (await pendingAfter(db, since)) - first.results.length)
          : exhausted || (opts.descending && lastRow === undefined)
            ? 0
            : opts.descending
              ? await pendingBefore(db, Number(lastRow?.seq))
              : await pendingAfter(db, Number(lastRow?.seq ?? since));
      const results = first.results.map((c, i) => row(c, i, i === first.results.length - 1));
      res.status(200).setHeader('Content-Type', 'application/json');
      res.end(`${RESULTS_OPEN}${rowsText(results)}${resultsClose(enc(first.last_seq), pending)}`);
      return;
    }
    since = Number(first.last_seq);
  }

  const heartbeatParam = str(query.heartbeat);
  // couch_changes:get_changes_timeout: a heartbeat or timeout is at most `changes_timeout` (60 s) — which also keeps
  // them within Node's timers (past 2^31 - 1 ms setTimeout/setInterval fire after 1 ms).
  const heartbeatAsked = heartbeatParam === 'true' ? CHANGES_TIMEOUT : positive(heartbeatParam);
  const heartbeat = heartbeatAsked === undefined ? undefined : Math.min(heartbeatAsked, CHANGES_TIMEOUT);
  // `timeout=0` ends the feed at once (checkParams let only integers through, and a negative one ended above).
  const timeoutParam = str(query.timeout);
  const timeout = heartbeat === undefined ? (timeoutParam === undefined ? CHANGES_TIMEOUT : Math.min(Number(timeoutParam), CHANGES_TIMEOUT)) : undefined;
  const continuous = feed === 'continuous';

  res.status(200);
  // chttpd answers JSON as `application/json` whatever the `Accept`.
  res.setHeader('Content-Type', fidelity.strict || req.accepts(['text', 'json']) === 'json' ? 'application/json' : 'text/plain; charset=utf-8');
  res.setHeader('Cache-Control', 'must-revalidate');
  res.flushHeaders();

  let lastSeq = since;
  let count = 0;
  let ended = false;
  let idle: NodeJS.Timeout | undefined;
  /**
   * The changes received and not yet sent, by document, in sequence order (a Map keeps the order its keys were set in):
   * at most one per document (see the `change` handler). `delivering`: they are being sent now.
   */
  const backlog = new Map<string, { change: Change; due: number }>();
  let delivering = false;
  // A long poll opens its results at once, as CouchDB does; heartbeats come inside them.
  if (!continuous) res.write(RESULTS_OPEN);
  const beat = heartbeat === undefined ? undefined : setInterval(() => res.write('\n'), heartbeat);
  const live = db.changes({ ...opts, since, live: true, return_docs: false });

  const stop = () => {
    ended = true;
    if (beat) clearInterval(beat);
    if (idle) clearTimeout(idle);
    live.cancel();
  };
  const finish = (results: Change[]) => {
    if (ended) return;
    stop();
    void pendingAfter(db, lastSeq)
      .catch(() => 0)
      .then((pending) => {
        if (continuous) return void res.end(`${JSON.stringify({ last_seq: enc(lastSeq), pending })}\n`);
        // A timed-out long poll ends with one more newline, like CouchDB's.
        res.end(`${results.length === 0 ? '\n' : rowsText(results.map((c) => row(c)))}${resultsClose(enc(lastSeq), pending)}`);
      });
  };
  const armTimeout = () => {
    if (timeout === undefined) return;
    if (idle) clearTimeout(idle);
    idle = setTimeout(() => finish([]), timeout);
  };

  res.on('close', stop);
  // A continuous feed with `limit=0` ends at once; a long poll can send no change, and waits its timeout out as
  // CouchDB's (fabric_view_changes stops a long poll only once a change was sent; each update restarts the wait).
  if (limit === 0 && continuous) return finish([]);
  armTimeout();
  const shift = () => {
    const first = backlog.entries().next();
    if (first.done) return undefined;
    backlog.delete(first.value[0]);
    return first.value[1];
  };
  /** Sends the backlog in order, each change once the server would have noticed it. */
  const deliver = async () => {
    delivering = true;
    try {
      for (let next = shift(); next && !ended; next = shift()) {
        const wait = next.due - Date.now();
        if (wait > 0) await sleep(wait);
        const received = next.change;
        const change = opts.style === 'all_docs' ? await inLeafOrder(db, received).catch(() => received) : received;
        if (ended) return;
        lastSeq = Number(change.seq);
        count += 1;
        if (!continuous) return finish([change]);
        res.write(`${JSON.stringify(row(change))}\n`);
        if (limit !== undefined && count >= limit) finish([]);
        else armTimeout();
      }
    } finally {
      delivering = false;
    }
  };
  live.on('change', (received: Change) => {
    if (ended) return;
    if (limit === 0) return armTimeout();
    // The real server notices a change a few ms after the write; deliveries keep their order. The delay counts from
    // the change's own write, not from the delivery before it: changes that came meanwhile go out together, as a
    // backlog does from CouchDB.
    const due = Date.now() + fidelity.latency('notice');
    // CouchDB's feed reads its by-sequence index from the last row it sent: a document changed again before its row was
    // sent is listed once, at its newest sequence, with its leaves and body as they are then — never an older state.
    // A change not sent yet is dropped for the newer one of its document (one written on and on by several devices
    // otherwise queued every intermediate state, seconds behind the server: devices pulled and resolved leaves long
    // replaced, each resolution a change more, and the feed fell further behind).
    backlog.delete(received.id);
    backlog.set(received.id, { change: received, due });
    if (!delivering) void deliver();
  });
  live.on('error', () => {
    if (!ended) {
      stop();
      res.end();
    }
  });
}
