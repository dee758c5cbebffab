/**
 * `_users` and couch_peruser: user documents, and the per-user database that appears `peruserDelayMs` after its user
 * document (asynchronously, as in CouchDB) — admin-only for `adminOnlyMs()` more before its members are set, as
 * CouchDB creates it (0 unless the `'couchdb'` profile is on).
 */
import type { Storage } from './storage.js';
import { userDbName } from './tokens.js';

export const USERS_DB = '_users';
export const USER_PREFIX = 'org.couchdb.user:';

export type CreateUserResult =
  | { status: 201; body: { ok: true; id: string; rev: string } }
  | { status: 403 | 409; body: { error: 'forbidden' | 'conflict'; reason: string } };

export class Users {
  readonly #storage: Storage;
  readonly #delayMs: number;
  readonly #adminOnlyMs: () => number;
  readonly #pending = new Map<string, { timer: NodeJS.Timeout | undefined; done: Promise<void>; resolve: () => void }>();
  /** Users whose database exists but has no members yet → when its members are set (ms since the epoch). */
  readonly #membersAt = new Map<string, number>();

  constructor(storage: Storage, delayMs: number, adminOnlyMs: () => number = () => 0) {
    this.#storage = storage;
    this.#delayMs = delayMs;
    this.#adminOnlyMs = adminOnlyMs;
  }

  /** True while the user's new database is still admin-only (CouchDB: their requests get 403 `forbidden`). */
  adminOnly(name: string): boolean {
    const at = this.#membersAt.get(name);
    if (at === undefined) return false;
    if (Date.now() < at) return true;
    this.#membersAt.delete(name);
    return false;
  }

  /** Opens `_users` and makes sure every existing user has their database (couch_peruser does so on start). */
  async start(): Promise<void> {
    const users = await this.#storage.create(USERS_DB);
    const { rows } = await users.allDocs({ startkey: USER_PREFIX, endkey: `${USER_PREFIX}\uffff`, include_docs: true });
    for (const row of rows) {
      const name = (row.doc as { name?: unknown } | undefined)?.name;
      if (typeof name === 'string') await this.#storage.create(userDbName(name));
    }
  }

  /**
   * Creates the user document `{name, roles: [], type: "user"}` (the proxy's replacement body). 409 when it exists.
   * The user's database is created `peruserDelayMs` later.
   */
  async create(name: string): Promise<CreateUserResult> {
    const users = this.#storage.db(USERS_DB);
    const id = `${USER_PREFIX}${name}`;
    // The `_users` database's validate_doc_update (CouchDB 3.4): 403 with these reasons.
    const refused = name.startsWith('_') ? 'Username may not start with underscore.' : name.includes(':') ? 'Character `:` is not allowed in usernames.' : undefined;
    if (refused) return { status: 403, body: { error: 'forbidden', reason: refused } };
    try {
      const result = await users.put({ _id: id, name, roles: [], type: 'user' });
      this.#schedulePeruser(name);
      return { status: 201, body: { ok: true, id, rev: result.rev } };
    } catch (error) {
      if ((error as { status?: unknown }).status === 409) {
        return { status: 409, body: { error: 'conflict', reason: 'Document update conflict.' } };
      }
      throw error;
    }
  }

  /** Resolves once the user's database exists (or at once, when no creation is pending). */
  async whenDatabaseReady(name: string): Promise<void> {
    await this.#pending.get(name)?.done;
  }

  #schedulePeruser(name: string): void {
    if (this.#pending.has(name)) return;
    let resolve!: () => void;
    const done = new Promise<void>((r) => (resolve = r));
    const entry: { timer: NodeJS.Timeout | undefined; done: Promise<void>; resolve: () => void } = { timer: undefined, done, resolve };
    const release = () => {
      this.#pending.delete(name);
      resolve();
    };
    entry.timer = setTimeout(() => {
      const window = Math.round(this.#adminOnlyMs());
      if (window > 0) this.#membersAt.set(name, Date.now() + window);
      this.#storage
        .create(userDbName(name))
        .catch(() => undefined)
        .finally(() => {
          if (window <= 0) return release();
          // The members are set a moment later.
          entry.timer = setTimeout(release, Math.max(0, (this.#membersAt.get(name) ?? 0) - Date.now()));
        });
    }, this.#delayMs);
    this.#pending.set(name, entry);
  }

  /** Cancels pending database creations (their waiters are released). */
  stop(): void {
    for (const { timer, resolve } of this.#pending.values()) {
      clearTimeout(timer);
      resolve();
    }
    this.#pending.clear();
    this.#membersAt.clear();
  }
}
