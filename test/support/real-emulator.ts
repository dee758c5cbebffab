/**
 * The real backend behind the emulator's interface (issue #22): `FEAT_BACKEND=real npm test` aliases
 * `@feat/emulator` to this module, so every integration test runs unchanged against Apache CouchDB 3.4 behind the
 * deployment's nginx (`../shared/tools/couchdb/realstack.mjs`).
 *
 * What is real: CouchDB (shared by every stack; `COUCH_URL`, `COUCH_ADMIN`) and nginx with the deployment's rules and
 * body limit. What is ours: a thin recording front on loopback before nginx (for `requests`, `stats()` and
 * `suspend()`), and the accounts service and REST API, which are the emulator's own (the production ones are other
 * services: the SDK sees only their HTTP answers, the same here as on the emulator), issuing proxy tokens for the
 * secret this module sets on CouchDB.
 *
 * Emulator-only options (`peruserDelayMs` other than its default or 0, `dataDir`, `log`, fixed ports) cannot be
 * honoured by a real server: tests that need them are skipped on this backend by name, with the reason
 * ({@link emulatorOnly} in `./target.ts`).
 */
import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Emulator, EmulatorOptions, EmulatorStats, RequestRecord, ServiceName } from '../../src/emulator/index.js';
import { createAccountsApp } from '../../src/emulator/accounts.js';
import { resolveFixtures } from '../../src/emulator/fixtures.js';
import { Listener } from '../../src/emulator/listeners.js';
import { RequestLog } from '../../src/emulator/request-log.js';
import { resolveOptions } from '../../src/emulator/options.js';
import { createRestApp } from '../../src/emulator/rest.js';
import { BearerSigner, proxyToken, userDbName } from '../../src/emulator/tokens.js';

export * from '../../src/emulator/index.js';

const COUCH = process.env.COUCH_URL ?? 'http://127.0.0.1:5984';
const GIVEN_ADMIN = process.env.COUCH_ADMIN ?? 'admin:adminpass';
/**
 * The harness's own server admin, made once with `COUCH_ADMIN`: tests that attack the server (wrong admin passwords
 * through the proxy) lock out `admin` from loopback for minutes (CouchDB ≥ 3.4's lockout is per user and address), and
 * the harness must still reach the configuration then.
 */
const HARNESS_ADMIN = `feat-harness:${createHash('sha256').update(`feat-harness\0${GIVEN_ADMIN}`).digest('hex').slice(0, 24)}`;
const basic = (credentials: string) => `Basic ${Buffer.from(credentials).toString('base64')}`;

let harnessAdmin: Promise<string> | undefined;
/**
 * A session cookie of the harness admin, made once (the admin is created with `COUCH_ADMIN` when missing). A cookie,
 * because every Basic-authenticated request costs CouchDB a 600,000-round PBKDF2 (~0.7 s here).
 */
function adminCookie(): Promise<string> {
  return (harnessAdmin ??= (async () => {
    const [name, password] = HARNESS_ADMIN.split(':') as [string, string];
    const login = async () => {
      const r = await fetch(`${COUCH}/_session`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ name, password }),
        signal: AbortSignal.timeout(10_000),
      });
      return r.ok ? (r.headers.get('set-cookie') ?? '').split(';')[0] : undefined;
    };
    let cookie = await login();
    if (cookie) return cookie;
    const made = await fetch(`${COUCH}/_node/_local/_config/admins/${name}`, {
      method: 'PUT',
      headers: { Authorization: basic(GIVEN_ADMIN), 'Content-Type': 'application/json' },
      body: JSON.stringify(password),
      signal: AbortSignal.timeout(10_000),
    });
    if (!made.ok) throw new Error(`Cannot create the test harness's admin with COUCH_ADMIN: HTTP ${made.status} ${await made.text()}`);
    // CouchDB hashes the new password a moment later.
    for (let i = 0; i < 50 && !cookie; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      cookie = await login();
    }
    if (!cookie) throw new Error("The test harness's admin was created but cannot log in");
    return cookie;
  })().catch((error: unknown) => {
    harnessAdmin = undefined;
    throw error;
  }));
}

/** A request as the harness admin; a session cookie that expired (CouchDB's last 10 minutes) is renewed once. */
export async function adminFetch(url: string, init: RequestInit = {}): Promise<Response> {
  const send = async () =>
    fetch(url, { ...init, headers: { ...(init.headers as Record<string, string>), Cookie: await adminCookie() }, signal: AbortSignal.timeout(10_000) });
  const first = await send();
  if (first.status !== 401) return first;
  // Not awaited: after a 401 to a request with a body (a secret rotation made the cookie stale), cancelling the
  // answer's body waits until the request's own timeout (10 s), which held every request of the stack meanwhile.
  void first.body?.cancel().catch(() => undefined);
  harnessAdmin = undefined;
  return send();
}

const here = path.dirname(fileURLToPath(import.meta.url));
/** `../shared/tools/couchdb/realstack.mjs` beside the repository, or `FEAT_REALSTACK`. */
export const REALSTACK = process.env.FEAT_REALSTACK ?? path.resolve(here, '../../../shared/tools/couchdb/realstack.mjs');

interface RealStack {
  couchUrl: string;
  stop(): Promise<void>;
}

async function setCouchSecret(secret: string): Promise<void> {
  const r = await adminFetch(`${COUCH}/_node/_local/_config/chttpd_auth/secret`, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(secret),
  });
  if (!r.ok) throw new Error(`Cannot set the CouchDB proxy secret: HTTP ${r.status} from ${COUCH}`);
}

const randomSecret = () => randomBytes(16).toString('hex');

/**
 * One CouchDB, one secret: every stack of this process shares it (a rotation through any stack rotates it for all, as
 * it would in production), and the fronts hold each request until CouchDB has the newest one, so a rotation takes
 * effect for the next request exactly as the emulator's synchronous `rotateSecret()` does.
 */
let shared: { secret: string; applied: Promise<void> } | undefined;
function useSecret(secret: string, apply = true): void {
  if (shared?.secret === secret) return;
  const before = shared;
  const previous = before?.applied ?? Promise.resolve();
  const entry = { secret, applied: apply ? previous.catch(() => undefined).then(() => setCouchSecret(secret)) : previous };
  shared = entry;
  // A secret CouchDB refused is not kept: the requests that waited for it fail (502), later ones use the one it has.
  entry.applied.catch(() => {
    if (shared === entry) shared = before && { secret: before.secret, applied: Promise.resolve() };
  });
}

/** The secret CouchDB has now (another process sharing the server may have rotated it). */
async function couchSecret(): Promise<string | undefined> {
  const r = await adminFetch(`${COUCH}/_node/_local/_config/chttpd_auth/secret`);
  if (r.status === 404) return undefined;
  if (!r.ok) throw new Error(`Cannot read the CouchDB proxy secret: HTTP ${r.status} from ${COUCH}`);
  return (await r.json()) as string;
}

/** Before issuing a token: CouchDB's current secret, so a rotation made by another test process is followed. */
async function followSecret(): Promise<void> {
  await shared?.applied.catch(() => undefined);
  // Bounded: a slow configuration read (seen up to 10 s under load) must not hold the token request; the secret known
  // here is used then.
  const now = await Promise.race([couchSecret().catch(() => undefined), new Promise<undefined>((resolve) => setTimeout(resolve, 1_000))]);
  if (now !== undefined && now !== shared?.secret) useSecret(now, false);
}

/** The recording front: forwards every request to nginx as it comes, streams the answer back, records it. */
function front(target: string, log: RequestLog): (req: IncomingMessage, res: ServerResponse) => void {
  const base = new URL(target);
  return (req, res) => {
    log.observe('couch', req, res);
    void (shared?.applied ?? Promise.resolve()).then(
      () => forward(req, res),
      () => {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end('the real stack could not set the CouchDB secret');
      },
    );
  };
  function forward(req: IncomingMessage, res: ServerResponse): void {
    const upstream = httpRequest(
      { host: base.hostname, port: base.port, method: req.method, path: req.url, headers: { ...req.headers, host: base.host } },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.rawHeaders as unknown as Record<string, string>);
        answer.pipe(res);
        answer.on('error', () => res.destroy());
      },
    );
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/html' });
      res.destroy();
    });
    req.pipe(upstream);
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
  }
}

/** The real stack with the emulator's interface. */
export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  // The emulator's own validation first: bad options are a TypeError/RangeError here too, before the server is touched.
  resolveOptions(options);
  await adminCookie();
  process.env.COUCH_ADMIN = HARNESS_ADMIN; // what realstack.mjs reads when it is first loaded, below
  const { startEmulator: startRealStack } = (await import(/* @vite-ignore */ REALSTACK)) as {
    startEmulator(o: { secret?: string; maxRequestBytes?: number }): Promise<RealStack>;
  };
  // The secret CouchDB already has, unless the test names one: test processes sharing the server leave it alone.
  if (options.secret !== undefined) {
    useSecret(options.secret);
    await shared!.applied;
  } else if (!shared) {
    const existing = await couchSecret();
    useSecret(existing ?? randomSecret(), existing === undefined);
  }
  const current = () => shared!.secret;
  // Bearers of their own per stack (as each emulator has): another stack's bearer is refused, as the service would.
  const bearers = new BearerSigner(options.secret ?? randomSecret());
  const stack = await startRealStack({ secret: current(), ...(options.maxRequestBytes === undefined ? {} : { maxRequestBytes: options.maxRequestBytes }) });
  const log = new RequestLog(undefined);
  const host = options.host ?? '127.0.0.1';
  const couch = new Listener(front(stack.couchUrl, log), host, 0);
  const accountsApp = createAccountsApp({ bearers, secret: current, log });
  const accounts = new Listener((req, res) => void followSecret().finally(() => accountsApp(req, res)), host, 0);
  const api = new Listener(createRestApp({ bearers, fixtures: resolveFixtures(options.fixtures ?? {}), log }), host, 0);
  const listeners = [couch, accounts, api];
  for (const l of listeners) await l.listen();
  let suspended = false;
  let stopping: Promise<void> | undefined;
  const checkName = (userName: unknown): string => {
    if (typeof userName !== 'string' || userName === '') throw new TypeError('The user name must be a non-empty string');
    return userName;
  };
  const headersFor = (userName: string) => ({
    'X-Auth-CouchDB-UserName': checkName(userName),
    'X-Auth-CouchDB-Token': proxyToken(current(), userName),
  });
  return {
    profile: 'couchdb', // it is the real thing
    accountsUrl: accounts.url,
    couchUrl: couch.url,
    apiUrl: api.url,
    ports: { couch: couch.port, accounts: accounts.port, api: api.port },
    get secret() {
      return current();
    },
    get requests(): readonly RequestRecord[] {
      return log.requests;
    },
    get suspended() {
      return suspended;
    },
    bearerFor: (userName) => `Bearer ${bearers.token(checkName(userName))}`,
    couchHeadersFor: headersFor,
    async createUser(userName) {
      const url = `${couch.url}/_users/org.couchdb.user:${encodeURIComponent(checkName(userName))}`;
      await followSecret(); // another process sharing the server may have changed it
      const created = await fetch(url, {
        method: 'PUT',
        headers: { ...headersFor(userName), 'Content-Type': 'application/json' },
        body: JSON.stringify({ name: userName, roles: [], type: 'user' }),
        signal: AbortSignal.timeout(10_000),
      });
      if (created.status !== 201 && created.status !== 409) throw new Error(`createUser(${userName}): HTTP ${created.status}`);
      const db = `${couch.url}/${userDbName(userName)}`;
      const deadline = Date.now() + 15_000;
      // The per-user database appears asynchronously, admin-only for a moment (404, then 403, then 200).
      for (let delay = 10; ; delay = Math.min(delay * 2, 200)) {
        const r = await fetch(db, { headers: headersFor(userName), signal: AbortSignal.timeout(10_000) });
        if (r.ok) break;
        if (Date.now() > deadline) throw new Error(`createUser(${userName}): the database is still ${r.status}`);
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
      return created.status === 201;
    },
    rotateSecret(next) {
      useSecret(next === undefined ? randomSecret() : checkName(next));
      return current();
    },
    async suspend() {
      if (stopping) throw new Error('The real stack is stopped');
      suspended = true;
      await Promise.all(listeners.map((l) => l.close()));
    },
    async resume() {
      if (stopping) throw new Error('The real stack is stopped');
      for (const l of listeners) await l.listen();
      suspended = false;
    },
    stop() {
      stopping ??= (async () => {
        await Promise.all(listeners.map((l) => l.close()));
        await stack.stop();
      })();
      return stopping;
    },
    resetRequests: () => log.reset(),
    stats: (): EmulatorStats => log.stats(),
  };
}

export type { ServiceName };
