import { FeatError, httpError, toFeatError } from '../errors.js';
import { discard } from '../transport/responses.js';
import { sleep } from '../util/abort.js';

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

async function request(fetchFn: typeof fetch, url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetchFn(url, { ...init, headers: { Accept: 'application/json', 'Content-Type': 'application/json' } });
  } catch (error) {
    throw toFeatError(error, { url });
  }
}

async function failure(response: Response, url: string): Promise<FeatError> {
  const body = (await response.json().catch(() => ({}))) as { reason?: unknown };
  return httpError(response.status, { url, reason: typeof body.reason === 'string' ? body.reason : undefined });
}

/**
 * Makes sure the user and their database exist: database info → 404 → create the user (own user document, or
 * `POST /_users/create-new-user` where that route is not offered) → 201/409 both fine → wait for the per-user
 * database, which CouchDB creates asynchronously (bounded, abortable backoff).
 */
export async function bootstrap(options: BootstrapOptions): Promise<void> {
  const { couchUrl, dbName, userName, fetch: fetchFn, signal } = options;
  const dbUrl = `${couchUrl}/${encodeURIComponent(dbName)}/`;
  const info = await request(fetchFn, dbUrl, { method: 'GET', signal });
  if (info.ok) return discard(info);
  if (info.status !== 404) throw await failure(info, dbUrl);
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

  // The per-user database appears shortly after the user document (real CouchDB: 50–100 ms).
  const deadline = Date.now() + options.timeout;
  for (let delay = 25; ; delay = Math.min(delay * 2, 1000)) {
    const check = await request(fetchFn, dbUrl, { method: 'GET', signal });
    if (check.ok) return discard(check);
    if (check.status !== 404) throw await failure(check, dbUrl);
    discard(check);
    if (Date.now() + delay > deadline) {
      throw new FeatError(
        'not_found',
        `The database "${dbName}" did not appear within ${options.timeout} ms after the user was created; is couch_peruser enabled?`,
        { url: dbUrl, status: 404 },
      );
    }
    await sleep(delay, signal);
  }
}
