import PouchDB from 'pouchdb-core';
import HttpAdapter from 'pouchdb-adapter-http';
import { FeatValidationError } from './errors.js';
import type { Db } from './store/db.js';

// pouchdb-core is shared with the app: register only what is missing (registering twice throws).
const shared = PouchDB as unknown as { adapters: Record<string, unknown>; prototype: object };
if (!shared.adapters.http) PouchDB.plugin(HttpAdapter);

/** Replication is registered when local-first mode starts (remote-mode apps never load it). */
export async function ensureReplication(): Promise<void> {
  if ('replicate' in shared.prototype) return;
  const plugin = (await import('pouchdb-replication')).default;
  if (!('replicate' in shared.prototype)) PouchDB.plugin(plugin);
}

type PouchCtor = new (name: string, options?: Record<string, unknown>) => Db & Record<string, unknown>;
const Pouch = PouchDB as unknown as PouchCtor & { adapters: Record<string, unknown>; plugin(p: unknown): unknown };

/**
 * Node-only adapters are loaded by a specifier bundlers do not follow, so a browser bundle never pulls in
 * leveldown or Node built-ins; `idb` is a plain dynamic import, so browser bundles carry it as a lazy chunk.
 */
export const nodeOnly = (specifier: string): Promise<{ default: unknown }> =>
  import(/* @vite-ignore */ /* webpackIgnore: true */ specifier) as Promise<{ default: unknown }>;

/** Loads a local adapter on demand, so a bundle carries only the adapter it uses. */
async function loadAdapter(name: string): Promise<void> {
  if (Pouch.adapters[name]) return;
  let plugin: unknown;
  switch (name) {
    case 'idb':
      plugin = (await import('pouchdb-adapter-idb')).default;
      break;
    case 'indexeddb':
      plugin = (await import('pouchdb-adapter-indexeddb')).default;
      break;
    case 'memory':
    case 'leveldb':
      plugin = (await nodeOnly(`pouchdb-adapter-${name}`)).default;
      break;
    default:
      throw new FeatValidationError(
        'invalid_argument',
        `Unknown local adapter "${name}": use "indexeddb" or "idb" (browsers), "memory" or "leveldb" (Node), or register a PouchDB adapter plugin on pouchdb-core yourself`,
      );
  }
  Pouch.plugin(plugin);
}

/**
 * The adapter for a new replica: `indexeddb` where IndexedDB exists (it keeps a replica readable when the origin's
 * quota is full, where `idb` closes its connection), else `memory`. A replica that `idb` created keeps being opened
 * with `idb` (see device-storage.ts).
 */
export function defaultAdapter(): string {
  return typeof indexedDB !== 'undefined' ? 'indexeddb' : 'memory';
}

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

/** The local replica. */
export async function openLocal(name: string, adapter: string): Promise<Db> {
  await loadAdapter(adapter);
  // No auto-compaction: it costs I/O on every write; scheduled maintenance compacts instead.
  return new Pouch(name, { adapter });
}
