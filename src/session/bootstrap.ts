import { endedBy, FeatError, httpError, toFeatError } from '../errors.js';
import { discard, readJson } from '../transport/responses.js';
import { sleep } from '../util/abort.js';
import { hex } from '../util/hash.js';
import { monotonicNow } from '../util/clock.js';

export interface BootstrapOptions {
  couchUrl: string;
  dbName: string;
  userName: string;
  /** The transport's fetch (adds proxy headers, refreshes on 401). */
  fetch: typeof fetch;
  /** How long to wait for the per-user database to appear after the user was created. */
  timeout: number;
  signal: AbortSignal;
}

/** One bootstrap request; ended by the client's lifetime, it fails as `endedBy` says (`closed` after close()). */
async function request(fetchFn: typeof fetch, url: string, init: RequestInit & { signal: AbortSignal }): Promise<Response> {
  try {
    return await fetchFn(url, { ...init, headers: { Accept: 'application/json', 'Content-Type': 'application/json' } });
  } catch (error) {
    if (init.signal.aborted) throw endedBy(init.signal);
    throw toFeatError(error, { url });
  }
}

interface ErrorBody {
  error?: unknown;
  reason?: unknown;
}

async function errorBody(response: Response): Promise<ErrorBody> {
  const body = (await response.json().catch(() => ({}))) as unknown;
  return typeof body === 'object' && body !== null ? (body as ErrorBody) : {};
}

function failureOf(response: Response, body: ErrorBody, url: string): FeatError {
  return httpError(response.status, { url, reason: typeof body.reason === 'string' ? body.reason : undefined });
}

async function failure(response: Response, url: string): Promise<FeatError> {
  return failureOf(response, await errorBody(response), url);
}

/**
 * A 200 for the database that is not CouchDB's database info (`{ db_name, … }`): a captive portal's page, another
 * server at `couchUrl` — `ready()` would resolve and every later call fail. `bad_response`, naming what came.
 */
async function databaseInfo(response: Response, url: string, signal: AbortSignal): Promise<void> {
  const type = response.headers.get('content-type') ?? '';
  let body: { db_name?: unknown } | undefined;
  try {
    // (Bounded: a portal's page is not read whole. A body cut off or the client closed meanwhile fail as they are.)
    body = (await readJson(response, { maxBytes: 64 * 1024, signal })) as typeof body;
  } catch (error) {
    if (signal.aborted) throw endedBy(signal);
    throw toFeatError(error, { url });
  }
  if (typeof body?.db_name === 'string') return;
  throw new FeatError(
    'bad_response',
    `The server answered ${response.status} for the database without CouchDB's database info (${type ? `content-type ${type.split(';')[0]}` : 'no content-type'}): is couchUrl the deployment's proxy (a captive portal or another server answers here)?`,
    { url, status: response.status },
  );
}

/**
 * couch_peruser creates the per-user database admin-only and sets its members a moment later (5–60 ms measured on
 * CouchDB 3.4): meanwhile the user's own requests get `403 {"error":"forbidden"}`. That means "not ready yet".
 */
const isNotReadyYet = (response: Response, body: ErrorBody) => response.status === 403 && body.error === 'forbidden';

/** couch_peruser's database name for a user: `userdb-` and the name's UTF-8 bytes in hex. */
const perUserDb = (userName: string) => `userdb-${hex(new TextEncoder().encode(userName))}`;

/** First delay between checks for the per-user database, and the cap of the exponential backoff, in ms. */
const FIRST_DELAY = 25;
const MAX_DELAY = 1000;
/** `delay` spread over ±50 % so clients that signed up together do not poll in lockstep. */
const jittered = (delay: number) => Math.round(delay * (0.5 + Math.random()));

/** The longest user name (UTF-8 bytes) whose per-user database name, `userdb-<hex>`, CouchDB accepts (238 characters). */
const MAX_USER_NAME_BYTES = 115;
/** Names an account can be created for through the deployment's proxy: printable ASCII but for these. */
const ACCOUNT_NAME = /^[!$&'()*,\-.0-9;<=>@A-Z[\]^_`a-z{|}~]+$/;

/**
 * Makes sure the user and their database exist: database info → 404 → create the user (own user document, or
 * `POST /_users/create-new-user` where that route is not offered) → 201/409 both fine → wait for the per-user
 * database, which CouchDB creates asynchronously (bounded, abortable backoff).
 */
export async function bootstrap(options: BootstrapOptions): Promise<void> {
  const { couchUrl, dbName, userName, fetch: fetchFn, signal } = options;
  // Names CouchDB cannot give an account and a database, refused before any request. A name whose database name
  // (`userdb-` + its UTF-8 bytes in hex) is over CouchDB's 238 characters is accepted by `_users`, and then
  // couch_peruser fails on it again and again: no new user of the server gets a database until it is purged. The
  // deployment's proxy puts the name into the account's URL as it is, and CouchDB reads the name header as Latin-1:
  // measured on CouchDB 3.4.3 behind its nginx, other names are refused (403), answered 400 or never answered.
  const refused = userName.startsWith('_')
    ? 'may not start with "_"'
    : userName.includes(':')
      ? 'may not contain ":"'
      : new TextEncoder().encode(userName).length > MAX_USER_NAME_BYTES
        ? `is longer than ${MAX_USER_NAME_BYTES} UTF-8 bytes (its database name would be over CouchDB's 238 characters)`
        : userName && !ACCOUNT_NAME.test(userName)
          ? 'has characters the proxy cannot carry (space, control or non-ASCII characters, or one of " # % + / ? \\)'
          : undefined;
  if (refused) {
    throw new FeatError('forbidden', `The user name "${userName.slice(0, 40)}${userName.length > 40 ? '…' : ''}" ${refused}: CouchDB cannot create this account; sign in with another user name`);
  }
  const dbUrl = `${couchUrl}/${encodeURIComponent(dbName)}/`;
  const info = await request(fetchFn, dbUrl, { method: 'GET', signal });
  if (info.ok) return databaseInfo(info, dbUrl, signal);
  if (info.status !== 404) {
    const body = await errorBody(info);
    // The user was created a moment ago (another device, an earlier attempt): wait for the database's members. Only
    // the user's own per-user database has that moment; another database's 403 is final.
    if (isNotReadyYet(info, body) && dbName === perUserDb(userName)) return waitForDatabase(options, dbUrl);
    throw failureOf(info, body, dbUrl);
  }
  discard(info);

  if (!userName) throw new FeatError('bad_response', 'The session has no user name, so the account cannot be created');
  const userUrl = `${couchUrl}/_users/${encodeURIComponent(`org.couchdb.user:${userName}`)}`;
  let created = await request(fetchFn, userUrl, {
    method: 'PUT',
    body: JSON.stringify({ _id: `org.couchdb.user:${userName}`, name: userName, roles: [], type: 'user' }),
    signal,
  });
  if (created.status === 404 || created.status === 405) {
    discard(created);
    const altUrl = `${couchUrl}/_users/create-new-user`;
    created = await request(fetchFn, altUrl, { method: 'POST', signal });
  }
  if (!created.ok && created.status !== 409 && created.status !== 412) throw await failure(created, userUrl);
  discard(created);
  return waitForDatabase(options, dbUrl);
}

/**
 * Waits for the per-user database, which CouchDB creates asynchronously after the user document (real: 404 for
 * ~15–65 ms, then 403 while it is still admin-only, then 200). Bounded by `timeout`, backoff with jitter, abortable.
 */
async function waitForDatabase(options: BootstrapOptions, dbUrl: string): Promise<void> {
  const { dbName, fetch: fetchFn, signal } = options;
  const deadline = monotonicNow() + options.timeout;
  for (let delay = FIRST_DELAY; ; delay = Math.min(delay * 2, MAX_DELAY)) {
    const check = await request(fetchFn, dbUrl, { method: 'GET', signal });
    if (check.ok) return databaseInfo(check, dbUrl, signal);
    const body = check.status === 404 ? undefined : await errorBody(check);
    if (body !== undefined && !isNotReadyYet(check, body)) throw failureOf(check, body, dbUrl);
    if (body === undefined) discard(check);
    const wait = jittered(delay);
    if (monotonicNow() + wait > deadline) {
      if (body !== undefined) {
        throw new FeatError(
          'forbidden',
          `The database "${dbName}" still refused its own user (403 forbidden) after ${options.timeout} ms; check its _security members`,
          { url: dbUrl, status: 403 },
        );
      }
      throw new FeatError(
        'not_found',
        `The database "${dbName}" did not appear within ${options.timeout} ms; is couch_peruser enabled, and is it this user's database?`,
        { url: dbUrl, status: 404 },
      );
    }
    await sleep(wait, signal).catch(() => {
      throw endedBy(signal);
    });
  }
}
