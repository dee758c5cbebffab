import PouchDB from 'pouchdb-core';
import type { Db } from './store/db.js';

/**
 * pouchdb-core is shared with the app. The SDK adds only adapters to it (`PouchDB.adapter` replaces an entry of
 * `PouchDB.adapters`, so the app may register the same ones before or after); its live sync is its own
 * (src/sync/live-*.ts), so it registers no replication plugin.
 */
export type PouchCtor = (new (name: string, options?: Record<string, unknown>) => Db & Record<string, unknown>) & {
  adapters: Record<string, unknown>;
  plugin(plugin: unknown): unknown;
};
export const Pouch = PouchDB as unknown as PouchCtor;
