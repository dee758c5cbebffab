/**
 * `_changes?feed=longpoll|continuous`, served by the emulator itself (express-pouchdb's version never ends a continuous
 * feed's heartbeat timer and ignores `timeout`). Semantics follow CouchDB: heartbeats are newlines; without a heartbeat
 * the feed ends after `timeout` ms (default 60 s) with the last sequence.
 */
import type { Request, Response } from 'express';
import type { Database } from './storage.js';

type Query = Record<string, unknown>;

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : Array.isArray(v) && typeof v[0] === 'string' ? v[0] : undefined);
const bool = (v: unknown): boolean => str(v) === 'true';

function json(v: string | undefined): unknown {
  if (v === undefined) return undefined;
  try {
    return JSON.parse(v);
  } catch {
    return undefined;
  }
}

function parseSince(v: string | undefined): number | string {
  if (v === undefined || v === '') return 0;
  return /^\d+$/.test(v) ? Number(v) : v;
}

/** PouchDB changes() options from CouchDB query parameters and body. */
function changesOptions(query: Query, body: unknown): PouchDB.Core.ChangesOptions & Record<string, unknown> {
  const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const opts: PouchDB.Core.ChangesOptions & Record<string, unknown> = {
    since: parseSince(str(query.since)) as number,
    include_docs: bool(query.include_docs),
    conflicts: bool(query.conflicts),
    attachments: bool(query.attachments),
    descending: bool(query.descending),
  };
  if (str(query.style) === 'all_docs') opts.style = 'all_docs';
  const filter = str(query.filter);
  if (filter === '_doc_ids') {
    const ids = b.doc_ids ?? json(str(query.doc_ids));
    if (Array.isArray(ids)) opts.doc_ids = ids.map(String);
  } else if (filter === '_selector') {
    if (b.selector !== undefined) opts.selector = b.selector as PouchDB.Core.ChangesOptions['selector'];
  } else if (filter === '_view') {
    const view = str(query.view);
    if (view !== undefined) {
      opts.filter = '_view';
      opts.view = view;
    }
  } else if (filter !== undefined) {
    opts.filter = filter;
  }
  opts.query_params = Object.fromEntries(Object.entries(query).map(([k, v]) => [k, str(v)]));
  return opts;
}

function positive(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

/** True for the feeds this module serves. */
export function isStreamingFeed(query: Query): boolean {
  const feed = str(query.feed);
  return feed === 'continuous' || feed === 'longpoll' || feed === 'eventsource';
}

function errorBody(err: unknown): { status: number; body: { error: string; reason: string } } {
  const e = err as { status?: unknown; name?: unknown; message?: unknown };
  return {
    status: typeof e.status === 'number' ? e.status : 500,
    body: { error: typeof e.name === 'string' ? e.name : 'unknown_error', reason: typeof e.message === 'string' ? e.message : String(err) },
  };
}

export async function serveStreamingChanges(db: Database, req: Request, res: Response, body: unknown): Promise<void> {
  const query = req.query as Query;
  const continuous = str(query.feed) !== 'longpoll';
  const opts = changesOptions(query, body);
  const heartbeatParam = str(query.heartbeat);
  const heartbeat = heartbeatParam === 'true' ? 60_000 : positive(heartbeatParam);
  const timeout = heartbeat === undefined ? (positive(str(query.timeout)) ?? 60_000) : undefined;
  const limit = positive(str(query.limit));

  let lastSeq: number | string = opts.since ?? 0;
  if (lastSeq === 'now') lastSeq = (await db.info()).update_seq;
  opts.since = lastSeq as number;

  if (!continuous) {
    // Long poll: answer at once when there is something to report.
    let first: PouchDB.Core.ChangesResponse<Record<string, unknown>>;
    try {
      first = await db.changes({ ...opts, live: false, ...(limit === undefined ? {} : { limit }) });
    } catch (err) {
      const { status, body: b } = errorBody(err);
      res.status(status).json(b);
      return;
    }
    if (first.results.length > 0) {
      res.status(200).type('application/json').end(`${JSON.stringify({ results: first.results, last_seq: first.last_seq, pending: 0 })}\n`);
      return;
    }
    lastSeq = first.last_seq;
    opts.since = lastSeq as number;
  }

  res.status(200);
  res.setHeader('Content-Type', req.accepts(['text', 'json']) === 'json' ? 'application/json' : 'text/plain; charset=utf-8');
  res.setHeader('Cache-Control', 'must-revalidate');
  res.flushHeaders();

  let count = 0;
  let ended = false;
  let idle: NodeJS.Timeout | undefined;
  const beat = heartbeat === undefined ? undefined : setInterval(() => res.write('\n'), heartbeat);
  const feed = db.changes({ ...opts, live: true, return_docs: false });

  const stop = () => {
    ended = true;
    if (beat) clearInterval(beat);
    if (idle) clearTimeout(idle);
    feed.cancel();
  };
  const finish = (results: unknown[]) => {
    if (ended) return;
    stop();
    if (continuous) res.end(`${JSON.stringify({ last_seq: lastSeq, pending: 0 })}\n`);
    else res.end(`${JSON.stringify({ results, last_seq: lastSeq, pending: 0 })}\n`);
  };
  const armTimeout = () => {
    if (timeout === undefined) return;
    if (idle) clearTimeout(idle);
    idle = setTimeout(() => finish([]), timeout);
  };

  res.on('close', stop);
  armTimeout();
  feed.on('change', (change) => {
    if (ended) return;
    lastSeq = change.seq;
    count += 1;
    if (!continuous) {
      finish([change]);
      return;
    }
    res.write(`${JSON.stringify(change)}\n`);
    if (limit !== undefined && count >= limit) finish([]);
    else armTimeout();
  });
  feed.on('error', () => {
    if (!ended) {
      stop();
      res.end();
    }
  });
}
