import { endedBy, FeatError, FeatHttpError, httpError, isFeatError, toFeatError } from '../errors.js';
import type { SessionOption } from '../options.js';
import { discard, MAX_ANSWER_BYTES, readJson, readText } from '../transport/responses.js';
import { fetchWithTimeout } from '../transport/timeout.js';
import { LATE, sleep, within } from '../util/abort.js';
import { askWithin, refuseRedirect } from './answers.js';
import type { AuthSource } from './auth.js';
import { monotonicNow } from '../util/clock.js';
// Static: options.ts and auth.ts load token.ts up front anyway. An `import()` here was a reference to the whole lazy
// group (tsup.config.ts) from a module `@feat/sdk/api` shared, and put PouchDB into api-only apps' builds.
import { parseCouchToken } from './token.js';

/** Who the client is on the server: resolved by `ready()`. */
export interface Session {
  userName: string;
  dbName: string;
}

interface SessionState extends Session {
  headers: Record<string, string>;
}

export interface SessionSourceOptions {
  accountsUrl?: string | undefined;
  auth?: AuthSource | undefined;
  session?: SessionOption | undefined;
  fetch: typeof fetch;
  /** How long the token request may stay silent before it fails with `timeout`. */
  requestTimeout: number;
  /** Aborted when the client closes: pending waits end. */
  signal: AbortSignal;
}

/** Refusals of a token naming another account than the client's: passing (the provider may answer for it again). */
const switchRefusals = new WeakSet<object>();
export const isSwitchRefusal = (error: unknown): boolean => typeof error === 'object' && error !== null && switchRefusals.has(error);

/** The minimum pause between two token refreshes that did not help (CouchDB ≥ 3.4 locks out repeated failures). */
const REFRESH_BACKOFF_MS = 500;
const REFRESH_BACKOFF_MAX_MS = 30_000;
/** How long a call within the refusal backoff waits for the auth provider's current value before it gets the refusal. */
const RENEWAL_WAIT_MS = 250;
const backoff = (failures: number) => Math.min(REFRESH_BACKOFF_MAX_MS, REFRESH_BACKOFF_MS * 2 ** (failures - 1));
/** The accounts service failing for now (429, 5xx), as opposed to refusing the Authorization value. */
const failing = (error: FeatError) => error.status === 408 || error.status === 429 || (error.status ?? 0) >= 500;

/**
 * The session: token from the accounts service, fetched once and shared by concurrent callers (single flight),
 * refreshed after a 401 with backoff between refreshes that did not help.
 */
export class SessionSource {
  #options: SessionSourceOptions;
  #current: Promise<SessionState> | undefined;
  #failedRefreshes = 0;
  #refreshing: Promise<void> | undefined;
  /**
   * Token requests refused (401/403) or failed by the service (429, 5xx) in a row, the last failure and until when it is
   * the answer (the same backoff; jittered, and at least a Retry-After of up to 30 s, after a failure of the service).
   */
  #failures = 0;
  #failure: FeatError | undefined;
  #failedUntil = 0;
  /** The Authorization value last sent for a token (the refused one, after a refusal), and the check of a newer one. */
  #sent: string | undefined;
  #renewal: Promise<string | undefined> | undefined;
  /** A renewed value was tried since the last backoff ran out (at most one per backoff). */
  #renewalTried = false;
  /** Whom the first token named: a later one naming another user or database is refused, never adopted. */
  #who: Session | undefined;
  /** The last token named another account: the next token request asks the provider afresh (its value is that account's). */
  #switched = false;

  /** The account a replica opened offline belongs to: the client's, whatever token comes first. */
  expect(who: { userName: string; dbName: string }): void {
    this.#who ??= { userName: who.userName, dbName: who.dbName };
  }

  constructor(options: SessionSourceOptions) {
    this.#options = options;
    if (options.session) {
      const { dbName, headers } = options.session;
      const userName = options.session.userName ?? headers['X-Auth-CouchDB-UserName'] ?? '';
      this.#current = Promise.resolve({ dbName, headers: { ...headers }, userName });
    }
  }

  /**
   * The current session (fetched on first use). After the accounts service refused the token or failed, calls within the
   * backoff get that failure at once (no request each); `retry` (ready()) asks again anyway.
   */
  get(retry = false): Promise<SessionState> {
    const failure = this.#failure;
    if (!this.#current && !retry && failure && monotonicNow() < this.#failedUntil) {
      // Another Authorization value does not help a service that fails.
      return failing(failure) ? Promise.reject(failure) : this.#renewed(failure);
    }
    this.#renewalTried = false;
    return (this.#current ??= this.#fetchToken(false));
  }

  /**
   * Within the backoff after a refusal: the auth provider is asked again (one call at a time, shared): a new value
   * (the user signed in again) is tried at once; the refused one gets the refusal, with no request.
   */
  async #renewed(refused: FeatError): Promise<SessionState> {
    // One new value tried per backoff step (a provider minting a new value per call must not make a request per call).
    if (this.#renewalTried) throw refused;
    const { auth, requestTimeout, signal } = this.#options;
    this.#renewal ??= askWithin(() => auth!.refresh(), requestTimeout, signal)
      .catch(() => undefined)
      .finally(() => (this.#renewal = undefined));
    // A slow provider: the refusal is the answer now (the check goes on for the next call).
    const value = await within(this.#renewal, RENEWAL_WAIT_MS);
    if (value === LATE || value === undefined || value === this.#sent) throw refused;
    this.#renewalTried = true;
    return (this.#current ??= this.#fetchToken(false));
  }

  async headers(): Promise<Record<string, string>> {
    return (await this.get()).headers;
  }

  /**
   * After a 401 from CouchDB for the headers `refused`: fetch a new token — unless the session moved on since those
   * were used. One refresh at a time, shared by every caller; it waits first if the last refreshes did not help.
   */
  async refresh(refused?: Record<string, string>): Promise<void> {
    if (this.#options.session) throw new FeatError('unauthorized', 'The session headers were refused and no accountsUrl is set to refresh them');
    if (refused && this.#current) {
      const current = await this.#current.catch(() => undefined);
      if (current && current.headers !== refused) return;
    }
    this.#refreshing ??= this.#refresh().finally(() => (this.#refreshing = undefined));
    return this.#refreshing;
  }

  async #refresh(): Promise<void> {
    if (this.#failedRefreshes > 0) {
      await sleep(backoff(this.#failedRefreshes), this.#options.signal).catch(() => {
        throw endedBy(this.#options.signal);
      });
    }
    this.#failedRefreshes++;
    const next = this.#fetchToken(true);
    this.#current = next;
    await next;
  }

  /** An authenticated request succeeded: the next 401 may refresh at once. */
  succeeded(): void {
    this.#failedRefreshes = 0;
  }

  // Not `async`: the promise returned must be the one whose failure clears `#current` below (an async method would
  // wrap it in another promise, and a failed token fetch would then stay memoized forever).
  #fetchToken(refreshAuth: boolean): Promise<SessionState> {
    let retryAfter = NaN;
    const promise = (async () => {
      const { accountsUrl, auth, signal, requestTimeout } = this.#options;
      if (!accountsUrl || !auth) throw new FeatError('invalid_argument', 'accountsUrl and auth are required without a session');
      const url = `${accountsUrl.replace(/\/+$/, '')}/couchdb/token/`;
      // A provider that throws (a token store locked, an OAuth refresh failing) means no credentials: unauthorized.
      // One that does not answer fails with `timeout` after requestTimeout; close() ends the wait (`closed`).
      const ask = (fresh: boolean) =>
        askWithin(() => (fresh ? auth.refresh() : auth.get()), requestTimeout, signal).catch((error: unknown) => {
          throw isFeatError(error)
            ? error
            : new FeatError('unauthorized', 'The auth provider failed to give an Authorization value; see the cause', { cause: error });
        });
      let authorization = await ask(refreshAuth || this.#switched);
      for (let attempt = 0; ; attempt++) {
        this.#sent = authorization;
        let response: Response;
        const init: RequestInit = {
          headers: { Authorization: authorization, Accept: 'application/json' },
          credentials: 'omit',
          // The session comes from accountsUrl and nowhere else: a redirect is refused, never followed.
          redirect: 'manual',
          signal: this.#options.signal,
        };
        // requestTimeout bounds the silence and, for this small answer, the whole exchange (a body trickling forever).
        const send = () => fetchWithTimeout(this.#options.fetch, url, init, requestTimeout, requestTimeout);
        try {
          response = await send().catch(async (error: unknown) => {
            // A kept-alive connection the network had dropped fails at once: one more try on a fresh connection.
            if (this.#options.signal.aborted || !(error instanceof TypeError)) throw error;
            await sleep(50);
            return send();
          });
        } catch (error) {
          if (signal.aborted) throw endedBy(signal);
          throw toFeatError(error, { url });
        }
        refuseRedirect(response, url);
        if (response.status === 401 && attempt === 0) {
          discard(response);
          const previous = authorization;
          authorization = await ask(true);
          // A fixed credential (or a provider that has nothing newer) would only be refused again.
          if (authorization !== previous) continue;
          throw httpError(401, { url, reason: 'the accounts service refused the Authorization value' });
        }
        if (!response.ok) {
          const after = response.headers.get('Retry-After') ?? '';
          retryAfter = /^\d+$/.test(after) ? Number(after) * 1000 : Date.parse(after) - Date.now();
          const body = (await readJson(response).catch(() => undefined)) as { reason?: unknown; detail?: unknown } | null | undefined;
          if (signal.aborted) throw endedBy(signal);
          const reason = typeof body?.reason === 'string' ? body.reason : typeof body?.detail === 'string' ? body.detail : undefined;
          const failure = httpError(response.status, { url, reason: reason ?? 'the accounts service refused the token request' });
          // A refusal (401/403) or a failure for now (408, 429, 5xx); any other answer (409, 404, 400…) is not the documented shape.
          if (/^(unauthorized|forbidden|timeout|server)$/.test(failure.code)) throw failure;
          throw new FeatHttpError('bad_response', `HTTP ${response.status} from the accounts service, not a token answer${reason ? `: ${reason}` : ''}`, { url, status: response.status });
        }
        let body: unknown;
        try {
          const read = await readText(response);
          if ('hit' in read) {
            throw new FeatError('bad_response', `The accounts service answered with a body over ${MAX_ANSWER_BYTES} bytes; a token answer is a few hundred`, {
              url,
              status: response.status,
            });
          }
          body = JSON.parse(read.text);
        } catch (error) {
          if (signal.aborted) throw endedBy(signal);
          if (isFeatError(error, 'bad_response')) throw error;
          // A body that stopped coming (the transport's limits) or a dropped connection is not a malformed one.
          const failure = toFeatError(error, { url, status: response.status });
          if (failure.code === 'timeout' || failure.code === 'network' || failure.code === 'aborted' || failure.code === 'closed') throw failure;
          throw new FeatError('bad_response', 'The accounts service answered with a body that is not JSON', { url, cause: error, status: response.status });
        }
        const token = parseCouchToken(body, url);
        const got = { userName: token.headers['X-Auth-CouchDB-UserName'], dbName: token.dbname };
        const who = (this.#who ??= got);
        // An account switcher answering for another user: its token would send this client's requests (and writes) to
        // this database with that user's headers. Refused (with backoff, like any refusal) until the provider answers
        // for this client's user again.
        if ((this.#switched = who.userName !== got.userName || who.dbName !== got.dbName)) {
          const what = who.userName !== got.userName ? `a token of ${got.userName}, not of the signed-in ${who.userName}` : `the database ${got.dbName}, not ${who.dbName} this client uses`;
          const refusal = new FeatHttpError('forbidden', `The accounts service gave ${what}; this client keeps to its account (to switch accounts, call logout() and create a new client)`, { url, status: 403 });
          switchRefusals.add(refusal);
          throw refusal;
        }
        this.#failures = 0;
        this.#failure = undefined;
        return { ...got, headers: token.headers };
      }
    })();
    // A failed fetch is not memoized: the next call tries again (after a refusal or a failure of the service, once its
    // backoff passed).
    promise.catch((error: unknown) => {
      if (this.#current === promise) this.#current = undefined;
      if (!isFeatError(error) || !(failing(error) || error.code === 'unauthorized' || error.code === 'forbidden')) return;
      const wait = backoff(++this.#failures);
      this.#failure = error;
      // The service failing: jittered (its clients do not all come back at once), or its Retry-After within the cap.
      this.#failedUntil = monotonicNow() + (failing(error) ? Math.max(wait * (0.5 + Math.random() / 2), Math.min(retryAfter, REFRESH_BACKOFF_MAX_MS) || 0) : wait);
    });
    return promise;
  }
}
