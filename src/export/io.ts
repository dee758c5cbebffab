import type { FeatError } from '../errors.js';
import type { Session } from '../session/session.js';
import type { Db } from '../store/db.js';
import type { DocumentStore } from '../store/store.js';

/** What export, import and maintenance need of the client (passed in by `client.ts`, which loads them lazily). */
export interface ClientIo {
  /** The database the store uses (local replica or server); waits for `ready()`, rejects with `closed` after close. */
  db(): Promise<Db>;
  /** The session (after `ready()`). */
  session(): Promise<Session>;
  store: DocumentStore;
  /** Local-first mode (the database is the local replica). */
  local: boolean;
  /** Records a revision this client wrote (so watchers see it as a local change). */
  wrote(id: string, rev: string, deleted?: boolean): void;
  /** Reports a failure of the app's own callback (`onProgress`): the `error` event, else logged. */
  warn(error: FeatError): void;
}
