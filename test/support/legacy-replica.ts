/**
 * A LevelDB replica as v0.1.0 (35fe56d, the version apps shipped) left it, written with the app's own PouchDB: the
 * shapes below are v0.1.0's (its src/store/codec.ts, src/sync/local-first.ts and src/util/hash.ts at 35fe56d).
 *
 * - a value: `{ _id: key, doc: value, feat: { updatedAt } }`;
 * - `_local/feat-synced`: `{ at }` once its first pull completed;
 * - `_local/feat-session`: `{ userName, dbName, fingerprint }`, `fingerprint` being the first 12 bytes of an unsalted
 *   SHA-256 of the Authorization value, in hex (`credentialFingerprint`); its plain logout() deleted the record.
 */
import { createHash } from 'node:crypto';
import PouchDB from 'pouchdb-core';
import { createFeatClient, type Session } from '@feat/sdk';
import type { Emulator } from '@feat/emulator';

/** v0.1.0's Authorization value for an `auth` option (its `normalize`): a value without a scheme is a bearer token. */
const normalized = (auth: string): string => (/^\S+\s+\S/.test(auth.trim()) ? auth.trim() : `Bearer ${auth.trim()}`);

/** v0.1.0's fingerprint of the credentials (`credentialFingerprint` of the Authorization value). */
export const v010Fingerprint = (auth: string): string => createHash('sha256').update(normalized(auth)).digest('hex').slice(0, 24);

let registered = false;
/** The app's own PouchDB on the LevelDB replica at `path`. */
export async function openLevel(path: string): Promise<PouchDB.Database> {
  if (!registered) {
    const leveldb = (await import('pouchdb-adapter-leveldb' as string)) as { default: PouchDB.Plugin };
    PouchDB.plugin(leveldb.default);
    registered = true;
  }
  return new PouchDB(path, { adapter: 'leveldb' });
}

/** The session of `user` on the server (their database made), as ready() resolves it. */
export async function sessionOf(emu: Emulator, user: string): Promise<Session> {
  const c = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote' });
  try {
    return await c.ready();
  } finally {
    await c.close();
  }
}

export interface V010Replica {
  /** Values the replica holds (v0.1.0 documents). */
  values: Record<string, unknown>;
  /** Its session record (v0.1.0's shape), or none (after its plain logout()). */
  session?: { userName: string; dbName: string; fingerprint: string };
}

/** Writes a v0.1.0 replica at `path`: its values, `_local/feat-synced`, and its session record when it has one. */
export async function writeV010Replica(path: string, replica: V010Replica): Promise<void> {
  const db = await openLevel(path);
  try {
    const at = Date.now();
    await db.bulkDocs(Object.entries(replica.values).map(([key, value]) => ({ _id: key, doc: value, feat: { updatedAt: at } })));
    await db.put({ _id: '_local/feat-synced', at } as never);
    if (replica.session) await db.put({ _id: '_local/feat-session', ...replica.session } as never);
  } finally {
    await db.close();
  }
}

/**
 * What v0.1.0 pushed before it went offline: the replica's documents `keys`, with their revision history, copied to
 * `user`'s server database as replication does (`new_edits: false`).
 */
export async function pushAsV010(emu: Emulator, user: string, path: string, keys: string[]): Promise<void> {
  const db = await openLevel(path);
  let docs: unknown[];
  try {
    docs = await Promise.all(keys.map((key) => db.get(key, { revs: true })));
  } finally {
    await db.close();
  }
  await pushDocs(emu, user, docs);
}

/** Documents with their revision history (`get(id, { revs: true })`) copied to `user`'s server database as replication does. */
export async function pushDocs(emu: Emulator, user: string, docs: unknown[]): Promise<void> {
  const { dbName } = await sessionOf(emu, user);
  const response = await fetch(`${emu.couchUrl}/${encodeURIComponent(dbName)}/_bulk_docs`, {
    method: 'POST',
    headers: { ...emu.couchHeadersFor(user), 'Content-Type': 'application/json' },
    body: JSON.stringify({ docs, new_edits: false }),
  });
  if (!response.ok) throw new Error(`_bulk_docs: ${response.status} ${await response.text()}`);
}

/** A `_local` document of the replica at `path` (the app's own PouchDB), or undefined. */
export async function localDoc(path: string, id: string): Promise<Record<string, unknown> | undefined> {
  const db = await openLevel(path);
  try {
    return (await db.get(id).catch(() => undefined)) as Record<string, unknown> | undefined;
  } finally {
    await db.close();
  }
}
