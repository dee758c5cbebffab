/**
 * Writes of several tabs to one `indexeddb` replica. PouchDB's `indexeddb` adapter keeps the database's update
 * sequence in memory per connection (apache/pouchdb#8494): after another tab wrote, this tab's next write reuses a
 * sequence number — the write fails ("Unable to add key to index 'seq'"), or, when the other tab's document at that
 * sequence has been updated since, succeeds *below* the sequence replication has already read past, so it is never
 * pushed. Every write (store, replication, checkpoints) therefore takes the Web Lock `feat-write:<replica>` and, if
 * another tab wrote since this connection read the sequence, reopens the connection (which reads it again) first.
 * Without Web Locks (Node, old browsers) nothing changes. Nothing waits forever: a write fails with `timeout` after
 * {@link LOCK_WAIT_MS} without the lock (a tab that holds it does not answer), or holding it (its database does not
 * answer: an upgrade blocked by a connection that ignores `versionchange`).
 */
import { localTimeout } from '../errors.js';
import { storedSeq } from '../store/replica-version.js';
import { webLocks } from './leader.js';

type Callback = (error: unknown, result?: unknown) => void;

interface IndexedDbInternals {
  _bulkDocs(req: unknown, options: unknown, callback: Callback): void;
  _info(callback: (error: unknown, info?: { update_seq?: unknown }) => void): void;
  _openTransactionSafely(stores: string[], mode: string, callback: (error: unknown, txn?: IDBTransaction) => void): void;
  _freshen(): Promise<unknown>;
}

const closed = (db: unknown): boolean => (db as { _closed?: boolean })._closed === true || (db as { _destroyed?: boolean })._destroyed === true;

function knownSeq(db: IndexedDbInternals): Promise<number> {
  return new Promise((resolve, reject) => db._info((error, info) => (error ? reject(error) : resolve(Number(info?.update_seq) || 0))));
}

/**
 * Reopens the connection when another tab wrote since it read the sequence: through the adapter's own handling of a
 * connection closed under it (its `close` handler marks it stale; the next call opens a new one at the same version,
 * which reads the sequence again), which leaves the other tabs' connections alone. The old connection is closed a
 * moment later, not at once: reads of this tab that already hold it would fail ("The database connection is
 * closing"). It still closes itself at once when another tab upgrades or deletes the database.
 */
async function refreshIfStale(db: IndexedDbInternals): Promise<void> {
  const known = await knownSeq(db);
  const { seq, connection } = await storedSeq(db);
  if (seq <= known) return;
  const markStale = connection.onclose as ((this: IDBDatabase, event: Event) => void) | null;
  if (!markStale) return void (await db._freshen());
  markStale.call(connection, new Event('close'));
  // Another tab upgrading or deleting the database closes it at once (the adapter's own handler expects it to be the
  // current connection).
  connection.onversionchange = () => connection.close();
  setTimeout(() => connection.close(), OLD_CONNECTION_MS);
}

/** How long a connection replaced by {@link refreshIfStale} stays open for the reads that hold it. */
const OLD_CONNECTION_MS = 1_000;

function hasLocalStorage(): boolean {
  try {
    return typeof localStorage !== 'undefined' && localStorage !== null;
  } catch {
    return false;
  }
}

/**
 * PouchDB tells the other tabs of a write through a `localStorage` event (`_pouch_<name>`), which wakes their live
 * changes feeds (the leader's push among them). A Web Worker has no `localStorage`: it neither sends nor hears that
 * event. So every write is also announced on the BroadcastChannel `feat-writes:<replica>` (saying whether a worker
 * made it); a tab raises the `localStorage` event for a worker's write (it heard the other tabs' itself), and a worker
 * wakes its own feeds for any write, with an empty write of its own (which makes PouchDB signal its listeners).
 */
function relayWrites(db: unknown, name: string, wake: () => void): (sync: boolean) => void {
  const events = db as { once?(event: string, listener: () => void): void };
  const channel = new BroadcastChannel(`feat-writes:${name}`);
  events.once?.('closed', () => channel.close());
  events.once?.('destroyed', () => channel.close());
  const inTab = hasLocalStorage();
  channel.onmessage = (event: MessageEvent) => {
    if (!inTab) wake();
    else if (String(event.data).startsWith('worker') && typeof StorageEvent === 'function') globalThis.dispatchEvent(new StorageEvent('storage', { key: `_pouch_${name}` }));
  };
  return (sync: boolean) => {
    try {
      channel.postMessage(`${inTab ? 'tab' : 'worker'}${sync ? SYNC_WRITE : ''}`);
    } catch {
      // closed meanwhile
    }
  };
}

/**
 * The suffix of a write's announcement when replication made it (a pulled batch: `new_edits: false`; checkpoints and
 * other `_local` documents only): no change of the app's to push (the `pending` count, pending-count.ts, skips it).
 */
export const SYNC_WRITE = ':sync';

function isSyncWrite(req: unknown, options: unknown): boolean {
  if ((options as { new_edits?: unknown } | null)?.new_edits === false) return true;
  const docs = (req as { docs?: unknown } | null)?.docs;
  return Array.isArray(docs) && docs.length > 0 && docs.every((d) => typeof (d as { _id?: unknown } | null)?._id === 'string' && (d as { _id: string })._id.startsWith('_local/'));
}

/**
 * How long a write waits for the tabs' write lock, and then for IndexedDB once it holds it, before it fails with
 * `timeout`. A healthy holder keeps the lock for one write (milliseconds; seconds for a large pull batch).
 */
export const LOCK_WAIT_MS = 30_000;

/** Makes writes to `db` (an `indexeddb` PouchDB database named `name`) safe with other tabs writing to it too. */
export function shareWritesAcrossTabs(db: unknown, name: string): void {
  const locks = webLocks();
  const raw = db as IndexedDbInternals;
  if (!locks || typeof raw._bulkDocs !== 'function' || typeof raw._freshen !== 'function') return;
  const write = raw._bulkDocs.bind(raw);
  const announce = relayWrites(db, name, () => write({ docs: [] }, {}, () => undefined));
  raw._bulkDocs = (req, options, callback) => {
    let answered = false;
    const answer: Callback = (error, result) => {
      if (answered) return;
      answered = true;
      callback(error, result);
    };
    const waiting = new AbortController();
    const waited = setTimeout(() => waiting.abort(), LOCK_WAIT_MS);
    let held: ReturnType<typeof setTimeout> | undefined;
    // Closed while this write waited for the lock or refreshed the connection: writing now would open the database
    // again (see keepClosed in pouch-local.ts). Checked right before the write, which opens it synchronously.
    const write_ = (release: () => void) => {
      const done = () => {
        clearTimeout(held);
        release();
      };
      if (closed(raw)) {
        done();
        return answer(Object.assign(new Error('database is closed'), { name: 'closed', status: 500 }));
      }
      write(req, options, (error, result) => {
        done();
        if (!error) announce(isSyncWrite(req, options));
        answer(error, result);
      });
    };
    locks
      .request(`feat-write:${name}`, { signal: waiting.signal }, () => {
        clearTimeout(waited);
        // The lock stays held until the write answers (another write at the same time would reuse its sequence); the
        // caller is answered in time all the same.
        held = setTimeout(
          () => answer(localTimeout( `A write to the local replica "${name}" got no answer from IndexedDB within ${LOCK_WAIT_MS} ms: another connection (a tab that does not answer, or the app's own IndexedDB code) may be blocking it. It may still be stored; close that connection, then read the value back.`)),
          LOCK_WAIT_MS,
        );
        return refreshIfStale(raw)
          .catch(() => undefined)
          .then(() => new Promise<void>(write_));
      })
      .catch((error: unknown) => {
        clearTimeout(waited);
        clearTimeout(held);
        if (!waiting.signal.aborted) return answer(error);
        answer(localTimeout( `A write to the local replica "${name}" waited ${LOCK_WAIT_MS} ms for another tab's write to finish (the Web Lock "feat-write:${name}"): a tab that does not answer holds it. Nothing was written; try again, or close or reload the other tabs.`));
      });
  };
}
