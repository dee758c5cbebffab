/**
 * The replica's version: a number that grows with every write to it, made by this tab or by another. PouchDB's
 * `info().update_seq` is that in every adapter but `indexeddb`, which keeps it in memory per connection
 * (apache/pouchdb#8494, see sync/tabs-writes.ts): there it is read from IndexedDB itself, as the highest sequence of
 * the stored documents (every write takes a sequence above it: sync/tabs-writes.ts).
 */

type Callback<T> = (error: unknown, result?: T) => void;

/** What the version is read through on an `indexeddb` replica (PouchDB's adapter internals). */
export interface IndexedDbTransactions {
  _openTransactionSafely(stores: string[], mode: string, callback: Callback<IDBTransaction>): void;
}

/** The highest sequence in an `indexeddb` replica, read from IndexedDB (not from the connection's memory), and the connection. */
export function storedSeq(db: IndexedDbTransactions): Promise<{ seq: number; connection: IDBDatabase }> {
  return new Promise((resolve, reject) => {
    db._openTransactionSafely(['docs'], 'readonly', (error, txn) => {
      if (error || !txn) return reject(error ?? new Error('no transaction'));
      const request = txn.objectStore('docs').index('seq').openKeyCursor(null, 'prev');
      request.onsuccess = () => resolve({ seq: Number(request.result?.key ?? 0) || 0, connection: txn.db });
      request.onerror = () => reject(request.error);
    });
  });
}

/**
 * The replica's current version, or `undefined` when it cannot be known (a cache keyed by it must then not be used).
 * Two reads giving the same number mean nothing was written in between (a purge aside).
 */
export async function replicaVersion(pouch: unknown): Promise<number | undefined> {
  const db = pouch as { adapter?: unknown; info(): Promise<{ update_seq?: unknown }> } & Partial<IndexedDbTransactions>;
  if (db.adapter === 'indexeddb') {
    if (typeof db._openTransactionSafely !== 'function') return undefined;
    return (await storedSeq(db as IndexedDbTransactions)).seq;
  }
  const seq = (await db.info()).update_seq;
  return typeof seq === 'number' ? seq : undefined;
}
