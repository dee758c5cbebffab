import PouchDB from 'pouchdb-core';
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
