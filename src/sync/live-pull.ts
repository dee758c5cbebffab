import { FeatError } from '../errors.js';
import { stringMd5 } from 'pouchdb-md5';
import { isChunkId, type StoredDoc } from '../store/codec.js';
import type { Change, ChangesFeed, Db, ReplicaDb } from '../store/db.js';
import { BATCH, isSeq, latestPerDoc, LiveLoop, MAX_BATCH } from './live-loop.js';
import { lockChunks, underLock } from '../util/chunk-lock.js';
import { monotonicNow } from '../util/clock.js';
import { slicesPerId } from '../util/slices.js';
import { webLocks } from './leader.js';
import { stringify } from '../util/json.js';

/**
 * The local document holding the server sequence up to which the pull has written everything (local replica only; like
 * replication's checkpoints, device-storage.ts lets its writes pass on a full device).
 */
export const PULL_CHECKPOINT = '_local/sync-pull';

/** The live feed's heartbeat (ms): the transport's silence limit for the stream is this plus `requestTimeout`. */
const HEARTBEAT_MS = 10_000;
/**
 * A page without Web Locks (Safari before 15.4): every tab syncs on its own (local-first.ts), each holding its stream,
 * and a browser gives one host six HTTP/1.1 connections for every tab and the app's own requests — six such tabs left
 * none for pushes or reads. There the pull reads long-polls instead, which CouchDB answers at a change or after this
 * long (its `timeout`; no heartbeat, which would keep one open for good): each answer frees the connection for what
 * waits. (A stream ended after a while without a change held on for good while another device wrote every few
 * seconds.) The long-polls read after a silent stream (a buffering proxy) are bounded so too.
 */
const POLL_WAIT_MS = 10_000;
const onItsOwn = () => typeof document !== 'undefined' && webLocks() === undefined;
/** Changes waiting to be written at most, before the stream is closed and the backlog read in pages (see `pump`). */
const BACKLOG = 2 * MAX_BATCH;
/** How long the pull reads long-polls after a stream of which nothing came (ms; see `LivePull.feedFailed`). */
const POLL_AFTER_SILENT_MS = 10 * 60_000;

/**
 * How deep a pulled document's fields may nest (objects and arrays, `[]` one level) for the local replica to take it.
 * Deeper ones break the adapters' recursive writes — by a RangeError inside the adapter's own callbacks, which nothing
 * can catch and which leaves its write queue held (the replica never answers again): `JSON.stringify` in the memory
 * and LevelDB adapters from ~4,000 levels in Node, an `indexeddb` write in a Chromium Web Worker from 1,100
 * (src/store/validate.ts). The SDK writes at most 500; a deeper revision (another app's) comes to the replica without
 * its value (`isUnheld`, store/codec.ts) and is reported (`tooDeep`).
 */
export const MAX_PULLED_DEPTH = 1_000;

/** Whether `doc` holds objects or arrays nested deeper than `max` levels (counted without recursion). */
export function deeperThan(doc: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[doc, 0]];
  for (let next = stack.pop(); next; next = stack.pop()) {
    const [value, depth] = next;
    if (depth > max) return true;
    for (const child of Array.isArray(value) ? value : Object.values(value as object)) if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
  }
  return false;
}

/**
 * Leaves of one document the pull writes at most. PouchDB merges each revision into the document's tree at a cost that
 * grows with the square of its branches (pouchdb-merge `stem`): 300 branches take a second to write, 1,500 took 50 s
 * of blocked event loop, and as long again to write their resolution. A document with more (another writer's
 * `new_edits: false` branches) is resolved on the server first (`crowded`, the way remote mode resolves), and only its
 * live leaves — the highest MAX_LEAVES — come to the replica; its deleted leaves, which the feed goes on listing, are
 * remembered (`#settled`) so that its later changes are pulled as any other's.
 */
export const MAX_LEAVES = 100;

export type PulledDoc = StoredDoc & { _rev: string; _revisions: { start: number; ids: string[] } };

/** A revision `N-id`, or undefined. */
function parseRev(rev: unknown): { pos: number; id: string } | undefined {
  if (typeof rev !== 'string') return undefined;
  const m = /^([1-9]\d{0,8})-([0-9a-zA-Z]{1,64})$/.exec(rev);
  return m ? { pos: Number(m[1]), id: m[2]! } : undefined;
}

/** A feed entry this pull can use: an id, a sequence and the document's leaf revisions. */
function isChange(change: unknown): change is Change {
  const c = change as Partial<Change> | null;
  return (
    !!c &&
    typeof c.id === 'string' &&
    c.id.length > 0 &&
    !c.id.startsWith('_local/') &&
    isSeq(c.seq) &&
    Array.isArray(c.changes) &&
    c.changes.length > 0 &&
    c.changes.every((r) => parseRev((r as { rev?: unknown } | null)?.rev) !== undefined)
  );
}

/**
 * Whether PouchDB wrote `doc` (as the feed gives it: `_id`, `_rev`, its fields, `_deleted`) on top of `parent`:
 * PouchDB's revision id is the MD5 of the JSON of the document it was given, `_rev` (the parent) included
 * (`deterministic_revs`, its default). The store writes `{ _id, [_deleted], fields…, _rev }`; other writers often
 * `{ _id, _rev, [_deleted], fields… }`; both are tried. A match proves the parent; anything else (CouchDB's own
 * revision ids, another order, other platforms' hashing) does not match and the history is asked of the server.
 */
export function writtenOnTop(doc: Record<string, unknown>, parent: string, id: string): boolean {
  let body = '';
  // (stringify: another app's value may nest deeper than JSON.stringify's stack.)
  for (const key of Object.keys(doc)) if (key[0] !== '_') body += `,${JSON.stringify(key)}:${stringify(doc[key])}`;
  const head = `{"_id":${JSON.stringify(doc._id)}`;
  const rev = `"_rev":${JSON.stringify(parent)}`;
  const deleted = doc._deleted === true ? ',"_deleted":true' : '';
  const orders = [`${head}${deleted}${body},${rev}}`, `${head},${rev}${deleted}${body}}`];
  return orders.some((json) => stringMd5(json) === id);
}

/**
 * The feed's document with its revision history, when that history is certain: a first revision (`1-…`, no parent),
 * or one PouchDB wrote on top of `localRev` (the replica's current revision, one below). Else undefined.
 */
export function withHistory(change: Change, localRev: string | undefined): PulledDoc | undefined {
  const doc = change.doc as Record<string, unknown> | undefined;
  const leaf = change.changes.length === 1 ? change.changes[0]!.rev : undefined;
  if (!leaf || !doc || typeof doc !== 'object' || Array.isArray(doc)) return undefined;
  if (doc._id !== change.id || doc._rev !== leaf) return undefined;
  // Attachments, `_conflicts`, a `_revisions` of the server's or anything unknown: the long way.
  for (const key of Object.keys(doc)) if (key[0] === '_' && key !== '_id' && key !== '_rev' && key !== '_deleted') return undefined;
  if ('_deleted' in doc && doc._deleted !== true) return undefined;
  const rev = parseRev(leaf)!;
  if (rev.pos === 1) return { ...(doc as unknown as StoredDoc), _rev: leaf, _revisions: { start: 1, ids: [rev.id] } };
  const parent = parseRev(localRev);
  if (!parent || parent.pos !== rev.pos - 1 || !writtenOnTop(doc, localRev!, rev.id)) return undefined;
  return { ...(doc as unknown as StoredDoc), _rev: leaf, _revisions: { start: rev.pos, ids: [rev.id, parent.id] } };
}

/** A document `_bulk_get` answered, checked before it is written. */
function isPulledDoc(doc: unknown, id: string, rev: string): doc is PulledDoc {
  const d = doc as Partial<PulledDoc> | null;
  const parsed = parseRev(rev);
  const history = d?._revisions;
  return (
    !!d &&
    !!parsed &&
    d._id === id &&
    d._rev === rev &&
    !!history &&
    history.start === parsed.pos &&
    Array.isArray(history.ids) &&
    history.ids[0] === parsed.id &&
    history.ids.length <= parsed.pos &&
    history.ids.every((h) => typeof h === 'string' && /^[0-9a-zA-Z]{1,64}$/.test(h))
  );
}

/**
 * Live pull from the server database into the local replica, without PouchDB's batch loop. It reads the server's
 * changes with their documents (`include_docs`, `style=all_docs`): first in batches until caught up, then from one
 * streamed feed (`feed=continuous`, a line per change as the server commits it, a heartbeat every 10 s): no request per
 * change, no gap between the answer of one long-poll and the next. A stream that ends or goes silent (heartbeat +
 * `requestTimeout`, transport/timeout.ts) fails the feed; the loop starts again from its checkpoint with backoff. A document whose revision
 * history is certain (`withHistory`) is written as it came (`new_edits: false` with a two-entry `_revisions`); any
 * other — several leaves, a parent the replica does not have as its current revision, a document written by another
 * kind of client, a malformed entry — is fetched with its history (`_bulk_get`, `revs: true`) as replication does.
 * The server sequence written up to is kept in the local replica (`PULL_CHECKPOINT`). Events: see `LiveLoop`. With
 * `once`, it stops when caught up (the first pull of a new device, local-first.ts).
 */
export class LivePull extends LiveLoop {
  #remote: ReplicaDb;
  /** Called with the documents about to be written (before the local replica has them). */
  #incoming: (docs: PulledDoc[]) => void;
  /** Whether the replica has this revision for sure (e.g. it sent it itself): the feed's entry is skipped. */
  #has: (id: string, rev: string) => boolean;
  /** Told of a revision written without its value: nested deeper than MAX_PULLED_DEPTH. */
  #tooDeep: (id: string, rev: string) => void;
  /** Resolves a document with more than MAX_LEAVES leaves on the server (a failure is reported, not thrown). */
  #crowded: (id: string) => Promise<void>;
  /** Per key resolved on the server for its many leaves (`#liveLeaves`): its deleted leaves, which stay listed. */
  #settled = new Map<string, Set<string>>();
  /** The documents being written to the replica now (told to `#incoming` already). */
  #writing: PulledDoc[] | undefined;
  #draining: Promise<void> | undefined;
  #pending: number | undefined;
  /** Until when the live feed is read by long-polls instead of a stream (see `feedFailed`). */
  #pollUntil = 0;

  constructor(
    local: Db,
    remote: Db,
    backOff: (delay: number) => number,
    hooks: { incoming?: (docs: PulledDoc[]) => void; has?: (id: string, rev: string) => boolean; tooDeep?: (id: string, rev: string) => void; crowded?: (id: string) => Promise<void>; once?: boolean },
  ) {
    super(local, backOff, PULL_CHECKPOINT);
    this.#remote = remote as ReplicaDb;
    this.#incoming = hooks.incoming ?? (() => undefined);
    this.#has = hooks.has ?? (() => false);
    this.#tooDeep = hooks.tooDeep ?? (() => undefined);
    this.#crowded = hooks.crowded ?? (() => Promise.resolve());
    this.once = hooks.once === true;
    this.start();
  }

  /**
   * Live sync takes this pull over (a first pull still under way when `initialSyncTimeout` cut the wait short): it is
   * told of what comes as of now, as its own pull would be.
   */
  adopt(hooks: { incoming: (docs: PulledDoc[]) => void; has: (id: string, rev: string) => boolean }): void {
    this.#incoming = hooks.incoming;
    this.#has = hooks.has;
    // (A page being written now was told to the hook before: told again.)
    if (this.#writing) hooks.incoming(this.#writing);
  }

  protected batch(): ChangesFeed {
    const feed = this.changes(this.#remote, { since: this.since, include_docs: true, style: 'all_docs', limit: BATCH, batch_size: BATCH, return_docs: true });
    // How many changes the server has after this batch (CouchDB's `pending`), for the first pull's progress.
    feed.on('change', (_change, pending) => {
      if (typeof pending === 'number' && Number.isSafeInteger(pending) && pending >= 0) this.#pending = pending;
    });
    return feed;
  }

  protected handle(entries: unknown[]): Promise<void> {
    return this.#write(entries);
  }

  protected feed(): ChangesFeed {
    const read = monotonicNow() >= this.#pollUntil && !onItsOwn() ? { feed: 'continuous', heartbeat: HEARTBEAT_MS } : { batch_size: BATCH, timeout: POLL_WAIT_MS, heartbeat: false };
    return this.changes(this.#remote, { live: true, ...read, since: this.since, include_docs: true, style: 'all_docs', return_docs: false });
  }

  /**
   * A stream of which not a byte came, not even a heartbeat, within heartbeat + `requestTimeout` (`silentFromStart`,
   * remote-db.ts): what a proxy that buffers answers looks like (it holds every line until the answer ends, which a
   * stream never does). For POLL_AFTER_SILENT_MS the pull then reads long-polls, which such a proxy passes whole:
   * slower, never stuck; then it tries a stream again. A stream that went silent after some bytes (a device that
   * slept, a connection that died) is simply streamed again.
   */
  protected override feedFailed(error: unknown): void {
    const e = error as { code?: unknown; silentFromStart?: unknown } | null;
    if (e?.code === 'timeout' && e.silentFromStart === true) this.#pollUntil = monotonicNow() + POLL_AFTER_SILENT_MS;
  }

  protected pump(): void {
    // A stream hands on what the server sends as fast as it comes, faster than a replica may write it (another device
    // imported thousands of documents): past BACKLOG changes waiting, the stream is closed and what it queued is read
    // again in pages (the catch-up), then followed again; memory stays bounded.
    if (this.queue.length > BACKLOG) return this.fail(undefined);
    this.#draining ??= this.#drain().finally(() => (this.#draining = undefined));
  }

  protected async settled(): Promise<void> {
    await this.#draining;
  }

  /** Writes what the live feed queued, all of it at once (up to MAX_BATCH changes), until the queue is empty. */
  async #drain(): Promise<void> {
    // Changes that arrived together (one chunk of the stream, a catch-up page) are queued by now: one write for them.
    await Promise.resolve();
    while (this.queue.length && !this.cancelled) {
      const batch = this.queue.splice(0, MAX_BATCH);
      this.setActive(true);
      try {
        await this.#write(batch);
      } catch (error) {
        this.fail(error);
        return;
      }
      const last = batch.at(-1)?.seq;
      if (isSeq(last)) {
        this.since = last;
        this.save(last);
      }
    }
    if (!this.cancelled && !this.queue.length) this.setActive(false);
  }

  /** Writes the documents of `entries` (feed entries) that the replica lacks, with their revision history. */
  async #write(entries: unknown[]): Promise<void> {
    const latest = latestPerDoc(entries.filter(isChange));
    // An entry naming a document with revisions this pull cannot read (not a revision's shape): the document's leaves
    // are asked for instead — never skipped past.
    const unreadable = new Set(
      entries.flatMap((e) => {
        const id = (e as { id?: unknown } | null)?.id;
        return !isChange(e) && typeof id === 'string' && id !== '' && !id.startsWith('_local/') && !latest.has(id) ? [id] : [];
      }),
    );
    // The echo of what this device sent.
    for (const [id, change] of latest) if (change.changes.length === 1 && this.#has(id, change.changes[0]!.rev)) latest.delete(id);
    if (!latest.size && !unreadable.size) return;
    const rows = (await this.local.allDocs({ keys: [...latest.keys()] })).rows;
    const current = new Map(rows.flatMap((row) => (row.value?.rev ? [[row.key, row.value.rev] as const] : [])));
    let docs: PulledDoc[] = [];
    const unsure: Record<string, string[]> = {};
    const crowded: string[] = [];
    for (const [id, listed] of latest) {
      const localRev = current.get(id);
      // The deleted leaves of a key resolved on the server before (`#liveLeaves`) are no news: without them, its next
      // change is pulled as any other's, not resolved and read whole again.
      const settled = this.#settled.get(id);
      const change = settled ? { ...listed, changes: listed.changes.filter((c) => !settled.has(c.rev)) } : listed;
      if (!change.changes.length || (change.changes.length === 1 && change.changes[0]!.rev === localRev)) continue;
      if (change.changes.length > MAX_LEAVES) {
        crowded.push(id);
        continue;
      }
      const doc = withHistory(change, localRev);
      if (doc) docs.push(doc);
      else unsure[id] = change.changes.map((c) => c.rev);
    }
    if (Object.keys(unsure).length) docs.push(...(await this.#fetch(unsure)));
    for (const id of unreadable) docs.push(...(await this.#leavesNow(id, [])));
    for (const id of crowded) docs.push(...(await this.#liveLeaves(id)));
    // Never handed to the adapter (see MAX_PULLED_DEPTH): told once, and written without its fields — the revision
    // (and its history) without a value, which reads as absent, never as the older value it replaced; the next
    // revision (a shallower value, a write here) goes on top of it as on any other.
    docs = docs.map((d) => {
      if (!deeperThan(d, MAX_PULLED_DEPTH)) return d;
      this.#tooDeep(d._id, d._rev);
      // (Its write time kept, when shallow: a conflict with it is resolved on what it is.)
      const feat = d.feat && !deeperThan(d.feat, 8) ? { feat: d.feat } : {};
      return { _id: d._id, _rev: d._rev, _revisions: d._revisions, ...feat, unheld: true, ...(d._deleted ? { _deleted: true } : {}) } as unknown as PulledDoc;
    });
    if (!docs.length || this.cancelled) return;
    // Chunk deletions (another device's garbage collection): those a manifest here still refers to are written again.
    const gone = docs.flatMap((d) => (d._deleted && isChunkId(d._id) ? [d._id] : []));
    // Under the chunk lock: a big write in progress here writes its manifest first, and is then seen (chunk-lock.ts).
    const unlock = gone.length ? await lockChunks(this.local) : undefined;
    try {
      // Every step under the lock is bounded (a replica that never answers fails the batch with `timeout`, retried).
      const bound = <T>(step: Promise<T>, what: string) => (unlock ? underLock(step, what) : step);
      if (gone.length) await bound((async () => (await import('../store/gc.js')).keepReferenced(this.local, gone, docs))(), 'keeping the chunks still referred to');
      this.#incoming(docs);
      this.#writing = docs;
      // A document with many leaves (another writer's branches) in bounded slices (slices.ts); one write as a rule.
      for (const slice of slicesPerId(docs)) {
        const results = await bound(this.local.bulkDocs(slice, { new_edits: false }), 'writing a pulled batch');
        const failed = results.find((r) => r.error);
        if (failed) throw failed;
      }
    } finally {
      this.#writing = undefined;
      unlock?.();
    }
    this.emit('change', { docs, docs_written: docs.length, pending: this.#pending });
  }

  /**
   * A document with more than MAX_LEAVES leaves: resolved on the server, then its live leaves the replica lacks (the
   * highest MAX_LEAVES, should the resolution have failed; CouchDB's winner when every leaf is deleted).
   */
  async #liveLeaves(id: string): Promise<PulledDoc[]> {
    await this.#crowded(id);
    const leaves = await this.#serverLeaves(id);
    const order = (a: PulledDoc, b: PulledDoc) => parseRev(b._rev)!.pos - parseRev(a._rev)!.pos || (a._rev < b._rev ? 1 : -1);
    const live = leaves.filter((l) => !l._deleted).sort(order);
    // (A few keys at most: bounded all the same.)
    if (this.#settled.size >= 100) this.#settled.clear();
    this.#settled.set(id, new Set(leaves.flatMap((l) => (l._deleted ? [l._rev] : []))));
    const kept = live.length ? live.slice(0, MAX_LEAVES) : leaves.sort(order).slice(0, 1);
    return this.#lacking(id, kept);
  }

  /** Every leaf of `id` on the server with its history (`open_revs=all`), those that are not what they say left out. */
  async #serverLeaves(id: string): Promise<PulledDoc[]> {
    const found = (await this.#remote.get(id, { open_revs: 'all', revs: true })) as unknown as { ok?: PulledDoc }[];
    return (Array.isArray(found) ? found : []).flatMap((l) => (l?.ok && isPulledDoc(l.ok, id, l.ok._rev) ? [l.ok] : []));
  }

  /** Those of `leaves` (revisions of `id`) the replica lacks. */
  async #lacking(id: string, leaves: PulledDoc[]): Promise<PulledDoc[]> {
    if (!leaves.length) return [];
    const missing = (await this.local.revsDiff({ [id]: leaves.map((l) => l._rev) }))[id]?.missing ?? [];
    return leaves.filter((l) => missing.includes(l._rev));
  }

  /** The missing revisions of `leaves` with their history, from the server (`_bulk_get`), as replication fetches them. */
  async #fetch(leaves: Record<string, string[]>): Promise<PulledDoc[]> {
    const diff = await this.local.revsDiff(leaves);
    const wanted = Object.entries(diff).flatMap(([id, d]) => (d.missing ?? []).filter((rev) => leaves[id]?.includes(rev)).map((rev) => ({ id, rev })));
    if (!wanted.length) return [];
    const answer = await this.#remote.bulkGet({ docs: wanted, revs: true, attachments: true });
    const docs: PulledDoc[] = [];
    const results = Array.isArray(answer?.results) ? answer.results : [];
    for (const [i, result] of results.entries()) {
      const asked = wanted[i];
      const found = Array.isArray(result?.docs) ? result.docs : [];
      for (const one of found) if (asked && one && typeof one === 'object' && 'ok' in one && isPulledDoc(one.ok, asked.id, asked.rev)) docs.push(one.ok);
    }
    // A revision not given (no result, an error, `not_found` from a node that lacks it yet, another revision than
    // asked): the document's leaves now, from the server — a revision replaced meanwhile gives its successor — else
    // the batch fails and is pulled again (its checkpoint not saved past it): never skipped.
    const got = new Set(docs.map((d) => `${d._id}\u0000${d._rev}`));
    const lacking = [...new Set(wanted.filter(({ id, rev }) => !got.has(`${id}\u0000${rev}`)).map(({ id }) => id))];
    for (const id of lacking) docs.push(...(await this.#leavesNow(id, leaves[id] ?? [])));
    return docs;
  }

  /** The leaves of `id` on the server the replica lacks; rejects (`bad_response`) when none is given of `listed`'s. */
  async #leavesNow(id: string, listed: string[]): Promise<PulledDoc[]> {
    const leaves = await this.#serverLeaves(id);
    if (!leaves.length) throw new FeatError('bad_response', `The server listed a change of "${id}" (${listed.join(', ')}) it then did not give: pulled again`, { key: id });
    return this.#lacking(id, leaves);
  }
}
