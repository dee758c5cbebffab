/**
 * `store.watchQuery()`: a query's results, kept current. Loaded on first use.
 *
 * Built on `watch({ prefix })`: the subscription starts first (so no change is missed), then the query runs once, then
 * each change is folded into the results in memory — matched with the selector, placed by the sort — and a new result
 * set goes to the listener only when the results changed. With `limit` or `skip` a change that touches the results
 * (a match, or a value that was one) runs the query again instead (the window moves), and again only a different
 * result set is delivered. In remote mode every change under the prefix runs the query again on the server.
 */
import { callListener, closedError, toFeatError, type FeatError } from '../errors.js';
import { sameJson } from '../store/codec.js';
import { partId } from '../store/ids.js';
import type { StoreIO } from '../store/io.js';
import { backoff } from '../util/backoff.js';
import type { ChangeEvent, WatchScope } from '../sync/watch.js';
import { findDocs, resultOf } from './find.js';
import { matcher, type MatchDoc } from './memory.js';
import type { PlannedQuery, QueryResult } from './validate.js';

/** Options of `store.watchQuery()`. */
export interface WatchQueryOptions {
  /** Where a failed (re)run of the query goes; without it, to `client.sync.on('error')`. */
  onError?: ((error: FeatError) => void) | undefined;
  /** As in `find()`: receives the query engine's warnings. */
  onWarning?: ((warning: string) => void) | undefined;
}

export interface LiveDeps {
  io: StoreIO;
  subscribe(scope: WatchScope, listener: (event: ChangeEvent) => void): () => void;
  /** Resolves once the subscription's feed reports every later change. */
  started(): Promise<void>;
  reportError(error: FeatError): void;
}

export function watchQuery<T>(deps: LiveDeps, query: PlannedQuery, listener: (results: QueryResult<T>[]) => void, options: WatchQueryOptions): () => void {
  const { prefix } = query;
  const windowed = query.limit !== undefined || query.skip > 0;
  // On the server (remote mode) the query engine is CouchDB's — ICU collation, its own rules for missing fields and
  // non-object values — which an in-memory fold would not reproduce: every change under the prefix runs the query
  // again (changes coming meanwhile are coalesced into one more run), so the results always equal a fresh find().
  const rerun = windowed || !deps.io.ctx.local;
  let stopped = false;
  /** The matches by id; `undefined` until the query has run. */
  let state: Map<string, MatchDoc> | undefined;
  let held: ChangeEvent[] = [];
  let running: Promise<void> | undefined;
  let again = false;
  /** A failed run is tried again with backoff (not only by the next change). */
  let retry: ReturnType<typeof setTimeout> | undefined;
  let failures = 0;
  let delivered: MatchDoc[] | undefined;
  const tools = matcher(query.sort);
  const findOptions = options.onWarning ? { onWarning: options.onWarning } : {};

  /** The result last delivered for each match, by the match it was made from (reused while that match stands). */
  let made = new Map<string, { from: MatchDoc; result: QueryResult<T> }>();
  const resultFor = (d: MatchDoc, next: typeof made) => {
    const before = made.get(d._id);
    // (A query run again returns new objects: an equal value keeps its result object all the same.)
    const same = before !== undefined && (before.from === d || sameJson(before.from.doc, d.doc));
    const entry = same ? before : { from: d, result: resultOf(prefix, d._id, structuredClone(d.doc) as T) };
    next.set(d._id, entry);
    return entry.result;
  };

  const deliver = (docs: MatchDoc[]) => {
    if (stopped) return;
    if (delivered && delivered.length === docs.length && delivered.every((d, i) => d === docs[i] || (d._id === docs[i]!._id && sameJson(d.doc, docs[i]!.doc)))) return;
    delivered = docs;
    // Only the changed matches are copied and named again: a result that did not change is the same object as in the
    // last set (so a memoized row does not render again).
    const next: typeof made = new Map();
    const results = docs.map((d) => resultFor(d, next));
    made = next;
    // As for `sync.on` listeners: an `error` event (not the query's own failure).
    callListener(() => listener(results), deps.reportError);
  };

  /** Runs the query (again), then folds in what came meanwhile; one run at a time. */
  const run = (): Promise<void> => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        clearTimeout(retry);
        try {
          const docs = await findDocs(deps.io, query, findOptions);
          if (stopped) return;
          failures = 0;
          // Changes that came while the query ran: folded in (the query may have seen them already: folding is
          // idempotent), or, for a window, one more run.
          const pending = held;
          held = [];
          state = new Map(docs.map((d) => [d._id, d]));
          if (rerun) {
            // This run's result is newer than any delivered: delivered even when changes came meanwhile (else steady
            // writes, faster than a run, would starve the listener), then one more run covers those changes.
            deliver(docs);
            if (pending.length > 0) again = true;
          } else {
            const { compare, matches } = await tools;
            for (const event of pending) fold(event, matches);
            deliver([...state.values()].sort(compare));
          }
          // Changes that came while this run folded and delivered (the matcher loading, a listener writing): once more.
          if (held.length > 0) again = true;
        } catch (error) {
          // Once the client closes, a run still going fails on the closed database: nothing to report (nobody listens).
          if (stopped || deps.io.ctx.closing()) return;
          (options.onError ?? deps.reportError)(toFeatError(error));
          retry = setTimeout(run, backoff(failures++));
        }
      } while (again && !stopped);
    })().finally(() => {
      running = undefined;
      // A change between the last run's end and here was held for a run that has ended: one more (not after a
      // failure, which its backoff retries).
      if (held.length > 0 && !stopped && failures === 0 && state) void run();
    });
    return running;
  };

  /** Folds a change into `state`; true when the results changed. */
  const fold = (event: ChangeEvent, matches: (doc: MatchDoc, selector: PlannedQuery['selector']) => boolean): boolean => {
    const id = event.subkey === undefined ? event.key : partId(event.key, event.subkey);
    const doc: MatchDoc = { _id: id, doc: event.value };
    const match = event.value !== undefined && matches(doc, query.selector);
    const had = state!.get(id);
    if (match) {
      if (had && sameJson(had.doc, doc.doc)) return false;
      state!.set(id, doc);
      return true;
    }
    return state!.delete(id);
  };

  const onChange = (event: ChangeEvent) => {
    if (stopped) return;
    if (!state || running) {
      held.push(event);
      if (!state && !running) void run();
      return;
    }
    void tools
      .then(({ matches, compare }) => {
        if (stopped) return;
        if (running) return void held.push(event);
        if (rerun) {
          const id = event.subkey === undefined ? event.key : partId(event.key, event.subkey);
          // With `skip`, a change of a key outside the window may be of a skipped match (which, leaving, moves it).
          const touches = !deps.io.ctx.local || query.skip > 0 || state!.has(id) || (event.value !== undefined && matches({ _id: id, doc: event.value }, query.selector));
          if (touches) void run();
          return;
        }
        if (fold(event, matches)) deliver([...state!.values()].sort(compare));
      })
      .catch(() => {
        // The in-memory matcher failed on this value (pouchdb-selector-core throws on some shapes): the change is not
        // lost, the query runs again instead — whose failure goes to `onError` (and is retried) as any run's does.
        if (!stopped) void run();
      });
  };

  const stop = deps.subscribe({ prefix }, onChange);
  void deps.started().then(() => (stopped ? undefined : run()));
  const end = () => {
    stopped = true;
    clearTimeout(retry);
    stop();
    closed?.removeEventListener('abort', onClosed);
  };
  // The client closed: the query ends, and says so to its own `onError` (a hook then shows `closed`).
  const closed = deps.io.ctx.closed;
  const onClosed = () => {
    if (stopped) return;
    end();
    options.onError?.(closedError());
  };
  if (closed?.aborted) onClosed();
  else closed?.addEventListener('abort', onClosed);
  return end;
}
