import type { FeatError } from '../errors.js';
import { toFeatError } from '../errors.js';
import { readJson } from '../transport/responses.js';
import { monotonicNow } from '../util/clock.js';

/** CouchDB's reason for a request to a database that does not exist (any path under it). */
const GONE = 'Database does not exist.';
/** The first wait after a failed sign-up, doubled up to the cap (ms). */
const FIRST_WAIT = 5_000;
const MAX_WAIT = 300_000;

export interface DatabaseGoneOptions {
  /** The user's database URL (`couchUrl/dbName`), once the client started; undefined before. */
  dbUrl: () => string | undefined;
  /** The start's bootstrap: signs the user up again and waits for their database (bounded by bootstrapTimeout). */
  bootstrap: () => Promise<void>;
  report: (error: FeatError) => void;
  signal: AbortSignal;
}

/**
 * The user's database gone from the server under a running client: `404 {"reason":"Database does not exist."}` for a
 * request to it (an emulator restarted without its data, an account deleted with its database). A start signs the
 * user up and waits for the database (bootstrap.ts); a running client does the same when it meets that answer, one
 * attempt at a time, then waits 5 s doubling up to 5 min (jittered) before trying again after a failed one. Resolves
 * true when the database is there again, so the caller may send its request once more (live sync then finds a database
 * made again, continuity.ts, and pushes everything back); `'gone'` when it is gone and was not made again (now, or
 * within the wait after a failed attempt); false for any other answer.
 */
export function databaseGone(options: DatabaseGoneOptions): (input: RequestInfo | URL, response: Response) => Promise<boolean | 'gone'> {
  let running: Promise<boolean> | undefined;
  let wait = 0;
  let notBefore = 0;
  return async (input, response) => {
    const db = options.dbUrl();
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (response.status !== 404 || db === undefined || !(url === db || url.startsWith(`${db}/`) || url.startsWith(`${db}?`))) return false;
    let body: unknown;
    try {
      body = await readJson(response.clone(), { maxBytes: 4096, signal: options.signal });
    } catch {
      return false;
    }
    if ((body as { reason?: unknown } | null)?.reason !== GONE || options.signal.aborted) return false;
    if (running) return (await running) || 'gone';
    if (monotonicNow() < notBefore) return 'gone';
    running = options.bootstrap().then(
      () => {
        wait = 0;
        return true;
      },
      (error: unknown) => {
        wait = Math.min(MAX_WAIT, Math.max(FIRST_WAIT, wait * 2));
        notBefore = monotonicNow() + wait * (0.5 + Math.random());
        if (!options.signal.aborted) options.report(toFeatError(error));
        return false;
      },
    );
    try {
      return (await running) || 'gone';
    } finally {
      running = undefined;
    }
  };
}
