import PouchDB from 'pouchdb-core';
import HttpAdapter from 'pouchdb-adapter-http';
import type { Db } from './store/db.js';

/**
 * pouchdb-core is shared with the app. The SDK adds only adapters to it (`PouchDB.adapter` replaces an entry of
 * `PouchDB.adapters`, so the app may register the same ones before or after); replication is applied to a private
 * object, never to the shared class (see pouch-local.ts).
 */
export type PouchCtor = (new (name: string, options?: Record<string, unknown>) => Db & Record<string, unknown>) & {
  adapters: Record<string, unknown>;
  plugin(plugin: unknown): unknown;
};
export const Pouch = PouchDB as unknown as PouchCtor;

if (!Pouch.adapters.http) Pouch.plugin(HttpAdapter);

/** The server's database through PouchDB's http adapter, with our transport's fetch. */
export function openRemote(url: string, fetchFn: typeof fetch): Db {
  const db = new Pouch(url, { adapter: 'http', fetch: fetchFn, skip_setup: true });
  // Replication calls info() for progress reporting and never handles its failure (pouchdb-replication 9,
  // finishBatch: `src.info().then(…)`), which leaves an unhandled rejection when the server drops right after a
  // batch. Nothing else in the SDK asks the server's info through this object, so a failed info() answers with an
  // empty one; the next real request of the replication fails and is retried as usual.
  const info = db.info.bind(db);
  db.info = () => info().catch(() => ({ db_name: url, update_seq: 0, doc_count: 0, unavailable: true }));
  return db;
}
