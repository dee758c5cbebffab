/**
 * The local replica's PouchDB parts: replication and the browser adapter. Imported only by local-first code, so they
 * load together with it in one lazy chunk, and remote-mode apps never load them.
 */
import replication from 'pouchdb-replication';
import IndexedDbAdapter from 'pouchdb-adapter-indexeddb';
import { FeatValidationError } from './errors.js';
import { Pouch } from './pouch.js';
import type { Db } from './store/db.js';
import { shareWritesAcrossTabs } from './sync/tabs-writes.js';

interface Replicate {
  replicate(source: Db, target: Db, options?: Record<string, unknown>): unknown;
}

/**
 * pouchdb-replication defines `replicate` on its target's prototype as a non-configurable property, so applying it
 * to the shared PouchDB class makes whichever registers second (the app or the SDK) fail with "Cannot redefine
 * property: replicate". It is applied to this private object instead; each local database gets its own
 * `replicate.to` / `replicate.from` (an own property, which a prototype's accessor does not affect).
 */
const replicator = { prototype: {} } as unknown as Replicate;
(replication as unknown as (target: unknown) => void)(replicator);

function withReplicate(db: Db): Db {
  Object.defineProperty(db, 'replicate', {
    value: {
      to: (target: Db, options?: Record<string, unknown>) => replicator.replicate(db, target, options),
      from: (source: Db, options?: Record<string, unknown>) => replicator.replicate(source, db, options),
    },
  });
  return db;
}

/**
 * Node-only adapters are optional peer dependencies, loaded by a specifier bundlers do not follow, so a browser
 * bundle never pulls in leveldown or Node built-ins.
 */
export const nodeOnly = (specifier: string): Promise<{ default: unknown }> =>
  import(/* @vite-ignore */ /* webpackIgnore: true */ specifier) as Promise<{ default: unknown }>;

/** Registers a local adapter on first use (the app may have registered it already). */
async function loadAdapter(name: string): Promise<void> {
  if (Pouch.adapters[name]) return;
  switch (name) {
    case 'indexeddb':
      Pouch.plugin(IndexedDbAdapter);
      return;
    case 'idb':
      // Only for replicas that `idb` created (see device-storage.ts): a lazy chunk of its own.
      Pouch.plugin((await import('pouchdb-adapter-idb')).default);
      return;
    case 'memory':
    case 'leveldb': {
      const specifier = `pouchdb-adapter-${name}`;
      const plugin = await nodeOnly(specifier).catch((cause: unknown) => {
        throw new FeatValidationError(
          'invalid_argument',
          `The "${name}" local adapter needs the ${specifier} package: \`npm install ${specifier}\` (an optional peer dependency of @feat/sdk, for Node)`,
          { cause },
        );
      });
      if (!Pouch.adapters[name]) Pouch.plugin(plugin.default);
      return;
    }
    default:
      throw new FeatValidationError(
        'invalid_argument',
        `Unknown local adapter "${name}": use "indexeddb" or "idb" (browsers), "memory" or "leveldb" (Node), or register a PouchDB adapter plugin on pouchdb-core yourself`,
      );
  }
}

/**
 * The adapter for a new replica: `indexeddb` where IndexedDB exists (it keeps a replica readable when the origin's
 * quota is full, where `idb` closes its connection), else `memory`. A replica that `idb` created keeps being opened
 * with `idb` (see device-storage.ts).
 */
export function defaultAdapter(): string {
  return typeof indexedDB !== 'undefined' ? 'indexeddb' : 'memory';
}

/** The local replica, with its own `replicate.to` / `replicate.from`. */
export async function openLocal(name: string, adapter: string): Promise<Db> {
  await loadAdapter(adapter);
  // No auto-compaction: it costs I/O on every write; scheduled maintenance compacts instead.
  const db = new Pouch(name, { adapter });
  // Other tabs may write to the same IndexedDB replica (sync/tabs-writes.ts).
  if (adapter === 'indexeddb') shareWritesAcrossTabs(db, name);
  return withReplicate(db);
}
