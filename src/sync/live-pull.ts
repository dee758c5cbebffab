import { stringMd5 } from 'pouchdb-md5';
import type { StoredDoc } from '../store/codec.js';
import type { Change, ChangesFeed, Db, ReplicaDb } from '../store/db.js';

/** The local document holding the server sequence up to which the pull has written everything (local replica only). */
export const PULL_CHECKPOINT = '_local/feat-pull';

/** Changes per catch-up request, and per long-poll answer. */
const BATCH = 100;
/** Queued changes written together at most (a document changed several times in them is written once). */
const MAX_WRITE = 500;
/** The live feed's heartbeat (ms): the transport's silence limit for the long-poll is this plus `requestTimeout`. */
const HEARTBEAT_MS = 10_000;

type PulledDoc = StoredDoc & { _rev: string; _revisions: { start: number; ids: string[] } };
type Seq = string | number;

/** A revision `N-id`, or undefined. */
function parseRev(rev: unknown): { pos: number; id: string } | undefined {
  if (typeof rev !== 'string') return undefined;
  const m = /^([1-9]\d{0,8})-([0-9a-zA-Z]{1,64})$/.exec(rev);
  return m ? { pos: Number(m[1]), id: m[2]! } : undefined;
}

function isSeq(seq: unknown): seq is Seq {
  return (typeof seq === 'string' && seq.length > 0) || (typeof seq === 'number' && Number.isFinite(seq));
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
  for (const key of Object.keys(doc)) if (key[0] !== '_') body += `,${JSON.stringify(key)}:${JSON.stringify(doc[key])}`;
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

type Listener = (arg: never) => void;

/**
 * Live pull from the server database into the local replica, without PouchDB's batch loop. It reads the server's
 * changes with their documents (`include_docs`, `style=all_docs`): first in batches until caught up, then from a
 * long-poll feed whose next request is already waiting while the last answer is written. A document whose revision
 * history is certain (`withHistory`) is written as it came (`new_edits: false` with a two-entry `_revisions`); any
 * other — several leaves, a parent the replica does not have as its current revision, a document written by another
 * kind of client, a malformed entry — is fetched with its history (`_bulk_get`, `revs: true`) as replication does.
 * The server sequence written up to is kept in the local replica (`PULL_CHECKPOINT`).
 *
 * It answers like a PouchDB replication for `Replicator`: events `active`, `paused` (with the error when a request
 * failed; it retries by itself after `backOff`), `change` (`{ docs }` written); `cancel()`; awaitable until stopped.
 */
export class LivePull implements PromiseLike<void> {
  #local: ReplicaDb;
  #remote: ReplicaDb;
  #backOff: (delay: number) => number;
  /** Called with the documents about to be written (before the local replica has them). */
  #incoming: (docs: PulledDoc[]) => void;
  #listeners = new Map<string, Listener[]>();
  #cancelled = false;
  #feed: ChangesFeed | undefined;
  #wake: (() => void) | undefined;
  #queue: Change[] = [];
  #draining: Promise<void> | undefined;
  #fail: ((error: unknown) => void) | undefined;
  #active = false;
  #since: Seq = 0;
  #checkpoint: { rev?: string | undefined; saving?: Promise<void> | undefined; next?: Seq | undefined } = {};
  #done: Promise<void>;

  constructor(local: Db, remote: Db, backOff: (delay: number) => number, incoming: (docs: PulledDoc[]) => void) {
    this.#local = local as ReplicaDb;
    this.#remote = remote as ReplicaDb;
    this.#backOff = backOff;
    this.#incoming = incoming;
    this.#done = this.#run();
  }

  on(event: string, listener: Listener): this {
    const list = this.#listeners.get(event) ?? [];
    list.push(listener);
    this.#listeners.set(event, list);
    return this;
  }

  cancel(): void {
    this.#cancelled = true;
    this.#feed?.cancel();
    this.#wake?.();
    this.#fail?.(undefined);
  }

  then<A = void, B = never>(onDone?: ((value: void) => A | PromiseLike<A>) | null, onFailed?: ((reason: unknown) => B | PromiseLike<B>) | null): PromiseLike<A | B> {
    return this.#done.then(onDone, onFailed);
  }

  #emit(event: string, arg?: unknown): void {
    for (const listener of this.#listeners.get(event) ?? []) (listener as (arg: unknown) => void)(arg);
  }

  #setActive(active: boolean): void {
    if (this.#active === active) return;
    this.#active = active;
    this.#emit(active ? 'active' : 'paused');
  }

  async #run(): Promise<void> {
    const saved = await this.#local.get(PULL_CHECKPOINT).catch(() => undefined);
    const seq = (saved as { seq?: unknown } | undefined)?.seq;
    if (saved?._rev) this.#checkpoint.rev = saved._rev;
    if (isSeq(seq)) this.#since = seq;
    let delay = 0;
    while (!this.#cancelled) {
      try {
        await this.#catchUp();
        if (this.#cancelled) break;
        this.#active = true;
        this.#setActive(false);
        delay = 0;
        await this.#follow();
      } catch (error) {
        if (this.#cancelled) break;
        this.#active = false;
        this.#emit('paused', error);
        delay = this.#backOff(delay);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          this.#wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.#wake = undefined;
      }
    }
    await this.#draining?.catch(() => undefined);
    await this.#checkpoint.saving;
  }

  /** Batches of changes since the checkpoint, each written before the next is asked, until fewer than a batch came. */
  async #catchUp(): Promise<void> {
    for (;;) {
      const feed = this.#remote.changes({ since: this.#since, include_docs: true, style: 'all_docs', limit: BATCH, batch_size: BATCH, return_docs: true });
      this.#feed = feed;
      const answer = (await feed) as { results?: unknown; last_seq?: unknown } | undefined;
      if (this.#cancelled) return;
      const results = Array.isArray(answer?.results) ? (answer.results as unknown[]) : [];
      if (results.length) {
        this.#setActive(true);
        await this.#write(results);
      }
      if (isSeq(answer?.last_seq) && answer.last_seq !== this.#since) {
        this.#since = answer.last_seq;
        this.#save(answer.last_seq);
      }
      if (results.length < BATCH) return;
    }
  }

  /** The long-poll feed from the checkpoint; rejects when it fails (or a write fails), resolves when cancelled. */
  #follow(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#fail = (error) => {
        this.#fail = undefined;
        feed.cancel();
        if (error === undefined || this.#cancelled) resolve();
        else reject(error);
      };
      const feed = this.#remote.changes({ live: true, since: this.#since, include_docs: true, style: 'all_docs', heartbeat: HEARTBEAT_MS, batch_size: BATCH, return_docs: false });
      this.#feed = feed;
      feed.on('change', (change) => {
        this.#queue.push(change);
        this.#draining ??= this.#drain().finally(() => (this.#draining = undefined));
      });
      feed.on('error', (error) => this.#fail?.(error ?? new Error('the changes feed stopped')));
      feed.on('complete', () => this.#fail?.(this.#cancelled ? undefined : new Error('the changes feed stopped')));
    });
  }

  /** Writes what the live feed queued, all of it at once (up to MAX_WRITE changes), until the queue is empty. */
  async #drain(): Promise<void> {
    // The rest of the long-poll's answer arrives in the same turn: one write for all of it.
    await Promise.resolve();
    while (this.#queue.length && !this.#cancelled) {
      const batch = this.#queue.splice(0, MAX_WRITE);
      this.#setActive(true);
      try {
        await this.#write(batch);
      } catch (error) {
        this.#queue = [];
        this.#fail?.(error);
        return;
      }
      const last = batch.at(-1)?.seq;
      if (isSeq(last)) {
        this.#since = last;
        this.#save(last);
      }
    }
    if (!this.#cancelled && !this.#queue.length) this.#setActive(false);
  }

  /** Writes the documents of `entries` (feed entries) that the replica lacks, with their revision history. */
  async #write(entries: unknown[]): Promise<void> {
    // A later entry of a document replaces an earlier one (its leaves are the document's current ones).
    const latest = new Map<string, Change>();
    for (const entry of entries) if (isChange(entry)) latest.set(entry.id, entry);
    if (!latest.size) return;
    const rows = (await this.#local.allDocs({ keys: [...latest.keys()] })).rows;
    const current = new Map(rows.flatMap((row) => (row.value?.rev ? [[row.key, row.value.rev] as const] : [])));
    const docs: PulledDoc[] = [];
    const unsure: Record<string, string[]> = {};
    for (const [id, change] of latest) {
      const localRev = current.get(id);
      if (change.changes.length === 1 && change.changes[0]!.rev === localRev) continue;
      const doc = withHistory(change, localRev);
      if (doc) docs.push(doc);
      else unsure[id] = change.changes.map((c) => c.rev);
    }
    if (Object.keys(unsure).length) docs.push(...(await this.#fetch(unsure)));
    if (!docs.length || this.#cancelled) return;
    this.#incoming(docs);
    const results = await this.#local.bulkDocs(docs, { new_edits: false });
    const failed = results.find((r) => r.error);
    if (failed) throw failed;
    this.#emit('change', { docs, docs_written: docs.length });
  }

  /** The missing revisions of `leaves` with their history, from the server (`_bulk_get`), as replication fetches them. */
  async #fetch(leaves: Record<string, string[]>): Promise<PulledDoc[]> {
    const diff = await this.#local.revsDiff(leaves);
    const wanted = Object.entries(diff).flatMap(([id, d]) => (d.missing ?? []).filter((rev) => leaves[id]?.includes(rev)).map((rev) => ({ id, rev })));
    if (!wanted.length) return [];
    const answer = await this.#remote.bulkGet({ docs: wanted, revs: true, attachments: true });
    const docs: PulledDoc[] = [];
    for (const [i, result] of (answer.results ?? []).entries()) {
      const asked = wanted[i];
      // A revision the server no longer has (e.g. replaced meanwhile) comes with a later change.
      for (const one of result?.docs ?? []) if (asked && 'ok' in one && isPulledDoc(one.ok, asked.id, asked.rev)) docs.push(one.ok);
    }
    return docs;
  }

  /** Saves the checkpoint after the writes up to `seq`, one save at a time (the latest one waiting wins). */
  #save(seq: Seq): void {
    const state = this.#checkpoint;
    state.next = seq;
    if (state.saving) return;
    state.saving = (async () => {
      while (state.next !== undefined) {
        const next = state.next;
        state.next = undefined;
        const doc = { _id: PULL_CHECKPOINT, ...(state.rev ? { _rev: state.rev } : {}), seq: next };
        // A checkpoint not saved only means that some changes are read again.
        const result = await this.#local.put(doc as StoredDoc).catch(async () => {
          const existing = await this.#local.get(PULL_CHECKPOINT).catch(() => undefined);
          state.rev = existing?._rev;
          return undefined;
        });
        if (result) state.rev = result.rev;
      }
    })().finally(() => (state.saving = undefined));
  }
}

/** Sets the pull checkpoint (after the first pull, which PouchDB's replication does). */
export async function savePullCheckpoint(local: Db, seq: unknown): Promise<void> {
  if (!isSeq(seq)) return;
  const existing = await local.get(PULL_CHECKPOINT).catch(() => undefined);
  await local.put({ _id: PULL_CHECKPOINT, ...(existing?._rev ? { _rev: existing._rev } : {}), seq } as StoredDoc).catch(() => undefined);
}
