/**
 * The last session a device remembers, so that an app started offline reopens its replica — with no credential
 * verifier on the device. Entries are keyed by the identity the credentials name, which needs no secret to compute
 * and lets no one test a guessed password:
 *
 * - `local.identity` when the app gives one (for example the account id behind a rotating OAuth token);
 * - else, for HTTP Basic credentials, the user name (the password is never stored, hashed or compared);
 * - else, for a token of at least {@link MIN_TOKEN_CHARS} characters (a bearer token, a personal access token), a
 *   domain-separated SHA-256 of it: such a token is high-entropy, so its digest cannot be searched;
 * - else (a short token, which could be guessed from a digest): nothing is remembered, and an offline start needs
 *   `local.identity`.
 *
 * Where: in browsers and Web Workers, in a `_local` document of a small well-known PouchDB database (`feat-sessions`,
 * in IndexedDB, one entry per server and identity); in every persistent replica, in its `_local/feat-session`
 * document (how a named `leveldb` replica in Node finds its own session). Nothing goes to `localStorage` any more;
 * entries an older version left there (keyed by an unsalted digest of the Authorization value) are deleted.
 *
 * v0.1.0 (35fe56d) keyed its records by that digest (its `credentialFingerprint`): `feat:last-session:<couchUrl>:<digest>`
 * in localStorage, `{ userName, dbName, fingerprint }` in the replica. One made for the current credentials (the
 * digest checked as v0.1.0 checked it) still opens the replica offline, and is then rewritten in the current form.
 */
import { FeatError } from '../errors.js';
import type { Session } from '../session/session.js';
import type { Db } from '../store/db.js';
import { LATE, within } from '../util/abort.js';
import { isStorageFull, toStorageAwareError } from './storage-errors.js';
import { hex } from '../util/hash.js';
import { idbDatabases } from '../util/idb-list.js';
import { monotonicNow } from '../util/clock.js';

/**
 * The most a use of the browser directory may take (ms). It only helps an offline start; on a device whose quota is
 * used up, IndexedDB never answers the open of a database that must be created (its first transaction is refused):
 * the directory is then left alone.
 */
const DIRECTORY_WAIT_MS = 3_000;

/** `promise`'s value, or undefined after DIRECTORY_WAIT_MS (or when it fails). */
async function bounded<T>(promise: Promise<T>): Promise<T | undefined> {
  const value = await within(promise, DIRECTORY_WAIT_MS).catch(() => undefined);
  return value === LATE ? undefined : (value as T | undefined);
}

/** Tokens shorter than this are not digested: they might be guessed from it. */
export const MIN_TOKEN_CHARS = 32;

/** The replica's own record of its session. */
export const SESSION_MARKER = '_local/feat-session';
/** The well-known database of remembered sessions (browsers and workers). */
export const DIRECTORY_NAME = 'feat-sessions';
const LEGACY_PREFIX = 'feat:last-session:';
const TAG = 'feat-sdk/last-session/v1\n';

export interface Remembered extends Session {
  /** The replica's database name and adapter, when the directory knows them. */
  name?: string;
  adapter?: string;
}

function decodeBase64(text: string): string | undefined {
  try {
    const binary = atob(text);
    return new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
  } catch {
    return undefined;
  }
}

async function digest(text: string): Promise<string> {
  const bytes = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(TAG + text)));
  return hex(bytes);
}

/**
 * The identity under which the last session is remembered, or undefined when the credentials name none that is safe
 * to keep (see the module comment).
 */
export async function identityOf(authorization: string | undefined, given: string | undefined): Promise<string | undefined> {
  if (given !== undefined) return `app:${given}`;
  if (!authorization) return undefined;
  const match = /^(\S+)\s+(.+)$/.exec(authorization.trim());
  if (!match) return undefined;
  const [, scheme, value] = match as unknown as [string, string, string];
  if (scheme.toLowerCase() === 'basic') {
    const decoded = decodeBase64(value);
    const colon = decoded?.indexOf(':') ?? -1;
    return colon > 0 ? `user:${decoded!.slice(0, colon)}` : undefined;
  }
  return value.length >= MIN_TOKEN_CHARS ? `token:${await digest(authorization.trim())}` : undefined;
}

/** v0.1.0's fingerprint of an Authorization value: the first 12 bytes of its SHA-256, in hex (never stored now). */
export async function legacyFingerprint(authorization: string | undefined): Promise<string | undefined> {
  if (!authorization) return undefined;
  return hex(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(authorization)), 0, 12));
}

/** The session v0.1.0 remembered in localStorage for the credentials of fingerprint `print` (browsers), or undefined. */
export function recallLegacyEntry(couchUrl: string, print: string | undefined): Session | undefined {
  let doc: Partial<Session> | null | undefined;
  try {
    const text = print && legacyStorage()?.getItem(`${LEGACY_PREFIX}${couchUrl}:${print}`);
    doc = text ? (JSON.parse(text) as Partial<Session> | null) : undefined;
  } catch {
    return undefined;
  }
  return typeof doc?.dbName === 'string' && typeof doc.userName === 'string' ? { userName: doc.userName, dbName: doc.dbName } : undefined;
}

function legacyStorage(): Storage | undefined {
  try {
    return globalThis.localStorage ?? undefined;
  } catch {
    return undefined;
  }
}

/** Deletes what older versions kept in localStorage (a credential digest: a password oracle). */
export function dropLegacyEntries(): void {
  const storage = legacyStorage();
  if (!storage) return;
  try {
    const doomed: string[] = [];
    for (let i = 0; i < storage.length; i++) {
      const key = storage.key(i);
      if (key?.startsWith(LEGACY_PREFIX)) doomed.push(key);
    }
    for (const key of doomed) storage.removeItem(key);
  } catch {
    // storage disabled: nothing to drop
  }
}

const entryId = (couchUrl: string, identity: string) => `_local/${couchUrl}|${identity}`;

type SessionRecord = Remembered & { _rev?: string; identity?: string; fingerprint?: unknown };

/** Reads a `_local` document, or undefined. */
async function read(db: Db, id: string): Promise<SessionRecord | undefined> {
  const doc = (await db.get(id).catch(() => undefined)) as unknown as SessionRecord | undefined;
  return doc && typeof doc.dbName === 'string' && typeof doc.userName === 'string' ? doc : undefined;
}

/** Replaces a `_local` document (one retry on a concurrent update); best effort: resolves with the last failure, if any. */
async function write(db: Db, id: string, body: Record<string, unknown> | undefined): Promise<unknown> {
  let failure: unknown;
  for (let attempt = 0; attempt < 2; attempt++) {
    // Forgetting: only a missing entry is nothing to delete (a read that fails is a failure).
    const existing = (await db.get(id).catch((error: { status?: number }) => {
      if (!body && error?.status !== 404) throw error;
      return undefined;
    })) as { _rev?: string } | undefined;
    if (!existing && !body) return;
    const doc = { _id: id, ...(existing?._rev ? { _rev: existing._rev } : {}), ...(body ?? { _deleted: true }) };
    failure = await db.put(doc as never).then(
      () => undefined,
      (error: unknown) => error ?? 'failed',
    );
    if (!failure) return;
  }
  return failure;
}

export interface DirectoryAccess {
  couchUrl: string;
  /** Opens the directory database (browsers), or undefined where there is none. */
  open(): Promise<Db> | undefined;
}

/** The Web Lock every tab and worker of the origin takes to use the directory (see {@link useDirectory}). */
interface Locks {
  request(name: string, options: { signal: AbortSignal }, use: () => Promise<unknown>): Promise<unknown>;
}

/**
 * Uses the directory database, opened for this use alone (undefined where there is none). Every tab and worker of the
 * origin uses it in turn, under one Web Lock: each open of an `indexeddb`-adapter database bumps its version, which
 * closed another context's connection in the middle of its transaction ("The database connection is closing") or
 * refused an open made a moment earlier ("The requested version … is less than the existing version"). Something
 * else may still open it (another copy of the SDK, the app's own code): a failed use is tried again — PouchDB reopens a
 * connection closed that way — until `ms` have passed (a full device: at once), then its failure is the answer.
 * Within `ms` in all, the lock's wait and its use included: a use that never answers (a blocked open) must not hold
 * the lock for every other tab — it is released, and the answer is {@link LATE}. Where Web Locks are refused (an opaque
 * origin), it goes without.
 */
function useDirectory<T>(access: DirectoryAccess, ms: number, use: (db: Db) => Promise<T>): Promise<T | undefined | typeof LATE> {
  const deadline = monotonicNow() + ms;
  let ran = false;
  const run = async () => {
    ran = true;
    const db = await access.open();
    if (!db) return undefined;
    try {
      for (;;) {
        try {
          return await use(db);
        } catch (error) {
          if (monotonicNow() > deadline || isStorageFull(error)) throw error;
          await new Promise((retry) => setTimeout(retry, 100));
        }
      }
    } finally {
      await db.close().catch(() => undefined);
    }
  };
  const timed = () => within(run(), Math.max(0, deadline - monotonicNow()));
  const locks = (globalThis as { navigator?: { locks?: Locks } }).navigator?.locks;
  const signal = AbortSignal.timeout(Math.max(1, ms));
  return Promise.resolve()
    .then(() => (locks ? (locks.request(DIRECTORY_NAME, { signal }, timed) as Promise<T | undefined | typeof LATE>) : timed()))
    .catch((error: unknown) => {
      if (ran) throw error;
      // Still waiting for the lock when the time ran out; else Web Locks refused: without.
      return signal.aborted ? LATE : timed();
    });
}

/** `write`, rejecting with its failure. */
async function change(db: Db, id: string, body: Record<string, unknown> | undefined): Promise<void> {
  const failure = await write(db, id, body);
  if (failure) throw failure;
}

/** The browser directory of last sessions. */
export async function recallFromDirectory(access: DirectoryAccess, identity: string): Promise<Remembered | undefined> {
  const found = await bounded(
    // A read that fails is tried again (a missing entry is none).
    useDirectory(access, DIRECTORY_WAIT_MS, (db) => db.get(entryId(access.couchUrl, identity)).catch((error: { status?: number }) => {
      if (error?.status !== 404) throw error;
    }) as Promise<(Remembered & { dbName?: unknown; userName?: unknown }) | undefined>),
  );
  const doc = found === LATE ? undefined : found;
  if (typeof doc?.dbName !== 'string' || typeof doc.userName !== 'string') return undefined;
  return {
    userName: doc.userName,
    dbName: doc.dbName,
    ...(typeof doc.name === 'string' ? { name: doc.name } : {}),
    ...(typeof doc.adapter === 'string' ? { adapter: doc.adapter } : {}),
  };
}

/**
 * Records (or, with `undefined`, forgets) the session of `identity` in the browser directory (bounded, best effort).
 * Resolves false, having recorded nothing, when a logout asked for the deletion of the entry's replica (see
 * {@link forgetInDirectory}): the client that opened it before must not make it remembered again.
 */
export async function rememberInDirectory(access: DirectoryAccess, identity: string, entry: Remembered | undefined): Promise<boolean> {
  dropLegacyEntries();
  const tag = entry?.name === undefined ? undefined : await replicaTag(entry.name);
  const done = await bounded(
    useDirectory(access, DIRECTORY_WAIT_MS, async (db) => {
      if (tag && doomedIn(await readDoomed(db)).some((d) => d.tag === tag)) return false;
      await change(db, entryId(access.couchUrl, identity), entry && { ...entry });
      return true;
    }),
  );
  return done !== false;
}

/**
 * Replicas a logout({ destroyLocal: true }) is deleting, recorded in the directory before the session is forgotten, so
 * that a deletion the browser dropped (the page closed while another connection held the replica open) is finished by
 * the next start on the origin (sync/local-first.ts). Each is named by a digest of its name (its name holds the user's),
 * kept until a start finds the replica gone.
 */
const DOOMED_ID = '_local/feat-doomed';

/** A replica being deleted: the digest of its name ({@link replicaTag}) and its adapter. */
export interface Doomed {
  tag: string;
  adapter: string;
}

/** The digest a replica's name is recorded under among the deletions under way. */
export const replicaTag = (name: string): Promise<string> => digest(`replica:${name}`);

async function readDoomed(db: Db): Promise<{ _rev?: string; replicas?: unknown } | undefined> {
  return (await db.get(DOOMED_ID).catch((error: { status?: number }) => {
    if (error?.status !== 404) throw error;
    return undefined;
  })) as { _rev?: string; replicas?: unknown } | undefined;
}

function doomedIn(doc: { replicas?: unknown } | undefined): Doomed[] {
  const list = Array.isArray(doc?.replicas) ? (doc.replicas as unknown[]) : [];
  return list.filter((d): d is Doomed => typeof (d as Doomed)?.tag === 'string' && typeof (d as Doomed).adapter === 'string');
}

/** Changes the list of deletions under way (one retry on a concurrent update). */
async function editDoomed(db: Db, edit: (list: Doomed[]) => Doomed[], late?: () => boolean): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const doc = await readDoomed(db);
    // (PouchDB queues a call until its open is done: the read answers when the directory could open, maybe late.)
    if (late?.()) return;
    const list = doomedIn(doc);
    const next = edit(list);
    if (next.length === list.length && next.every((d, i) => d === list[i])) return;
    try {
      await db.put({ _id: DOOMED_ID, ...(doc?._rev ? { _rev: doc._rev } : {}), replicas: next } as never);
      return;
    } catch (error) {
      if (attempt > 0) throw error;
    }
  }
}

/** Whether IndexedDB lists the directory (undefined: it could not say); a directory not there is not created to be read. */
async function directoryListed(): Promise<boolean | undefined> {
  const list = await idbDatabases(DIRECTORY_WAIT_MS);
  return list && list.some((d) => d.name === `_pouch_${DIRECTORY_NAME}`);
}

/** The deletions under way on this origin (bounded; undefined when the directory cannot say in time). */
export async function readDeletions(access: DirectoryAccess): Promise<Doomed[] | undefined> {
  if ((await directoryListed()) === false) return [];
  const doc = await bounded(useDirectory(access, DIRECTORY_WAIT_MS, async (db) => (await readDoomed(db)) ?? {}));
  return doc === LATE || doc === undefined ? undefined : doomedIn(doc);
}

/** The deletions under way on this origin (bounded; none when the directory cannot say). */
export async function pendingDeletions(access: DirectoryAccess): Promise<Doomed[]> {
  return (await readDeletions(access)) ?? [];
}

/** A deletion is over (the replica is gone): its record goes. Resolves false when the directory could not be changed. */
export async function dropDeletion(access: DirectoryAccess, tag: string): Promise<boolean> {
  const done = await bounded(useDirectory(access, DIRECTORY_WAIT_MS, async (db) => (await editDoomed(db, (list) => list.filter((d) => d.tag !== tag)), true)));
  return done === true;
}

/**
 * Forgets the session of `identity` in the browser directory (logout), recording first the deletion of `doomed`, its
 * replica, when logout deletes it (see {@link pendingDeletions}): unlike remembering, not best effort. Rejects
 * when it could not, with `timeout` when the directory did not open within `waitMs` (another connection holds it
 * open: IndexedDB keeps the open waiting, and the entry is deleted as soon as that connection closes), or kept failing
 * for that long. A directory IndexedDB does not list is not opened (that would create it; on a full device, never
 * answering).
 */
export async function forgetInDirectory(access: DirectoryAccess, identity: string | undefined, waitMs: number, doomed?: { name: string; adapter: string }): Promise<void> {
  dropLegacyEntries();
  const deadline = monotonicNow() + waitMs;
  if ((await directoryListed()) === false) return;
  const tag = doomed && (await replicaTag(doomed.name));
  let gaveUp = false;
  const forgetting = useDirectory(access, deadline - monotonicNow() - 500, async (db) => {
    // The deletion first: a page closed in between leaves the session remembered, never a replica nothing points to.
    // Not once logout gave up (`timeout`): an open IndexedDB kept waiting may run this much later, when the user has
    // signed in again and a replica of that name is new — a late record would delete it.
    if (tag) await editDoomed(db, (list) => (list.some((d) => d.tag === tag) ? list : [...list, { tag, adapter: doomed!.adapter }]), () => gaveUp);
    if (identity) await change(db, entryId(access.couchUrl, identity), undefined);
  });
  // A full device is `storage_full`, as every other failure of logout(); a use that never answered, or kept failing for
  // that long, is the one other failure logout() has: `timeout` (with that failure as its cause).
  let cause: unknown;
  const outcome = await within(forgetting, Math.max(0, deadline - monotonicNow())).catch((error: unknown) => {
    if (isStorageFull(error)) throw toStorageAwareError(error);
    cause = error;
    return LATE;
  });
  if (outcome === LATE) {
    gaveUp = true;
    throw new FeatError('timeout', `logout(): the IndexedDB database "${DIRECTORY_NAME}" is held open elsewhere (a tab that does not answer, or the app's own code), or kept failing: the session is forgotten once it can be`, cause === undefined ? {} : { cause });
  }
}

/**
 * The session a replica recorded for `identity` — or, in v0.1.0's form, for the credentials of fingerprint `print`
 * (then `legacy`) — or undefined.
 */
export async function recallFromReplica(db: Db, identity: string, print?: string): Promise<(Session & { legacy?: boolean }) | undefined> {
  const doc = await read(db, SESSION_MARKER);
  const session = doc && { userName: doc.userName, dbName: doc.dbName };
  if (doc?.identity === identity) return session;
  return print && doc?.identity === undefined && doc?.fingerprint === print ? { ...session!, legacy: true } : undefined;
}

/** Records the replica's session (user, database and the identity, never a credential or a digest of a short one). */
export async function rememberInReplica(db: Db, identity: string | undefined, session: Session | undefined): Promise<void> {
  await write(db, SESSION_MARKER, session && identity ? { userName: session.userName, dbName: session.dbName, identity } : undefined);
}
