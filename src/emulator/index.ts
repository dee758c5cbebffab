/**
 * `@feat/emulator` — a local stand-in for the whole deployment (Node only): the accounts service, CouchDB with
 * proxy authentication and per-user databases behind the seed's nginx rules, and the REST endpoints.
 *
 * ```ts
 * const emu = await startEmulator({ port: 0 });
 * const client = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, apiUrl: emu.apiUrl, auth: emu.bearerFor('alice') });
 * await emu.stop();
 * ```
 */
import path from 'node:path';
import { createAccountsApp } from './accounts.js';
import { createCouchApp } from './couch.js';
import { createFidelity } from './fidelity.js';
import { resolveFixtures } from './fixtures.js';
import { Listener } from './listeners.js';
import { randomSecret, resolveOptions } from './options.js';
import type { EmulatorOptions } from './options.js';
import type { Profile } from './fidelity.js';
import { RequestLog } from './request-log.js';
import type { EmulatorStats, RequestRecord } from './request-log.js';
import { createRestApp } from './rest.js';
import { Storage } from './storage.js';
import { BearerSigner, proxyToken, userDbName } from './tokens.js';
import { Users } from './users.js';

export type { EmulatorOptions, LogSink } from './options.js';
export { DEFAULTS } from './options.js';
export type { Profile } from './fidelity.js';
export type { CommentCountEntry, RestFixtures, Subscription, SubscriptionQuery, WeixinFixture } from './fixtures.js';
export { DEFAULT_FIXTURES, EXAMPLE_SUBSCRIPTION } from './fixtures.js';
export type { EmulatorStats, RequestRecord, ServiceName, ServiceStats } from './request-log.js';
export { proxyToken, proxyTokenSha256, userDbName } from './tokens.js';
export { weixinSignature } from './rest.js';

export interface Emulator {
  /** Accounts service base URL, e.g. `http://127.0.0.1:5985` (token endpoint: `${accountsUrl}/couchdb/token/`). */
  readonly accountsUrl: string;
  /** CouchDB base URL (behind the emulated proxy; CouchDB at the root, no trailing slash). */
  readonly couchUrl: string;
  /** REST API base URL (`${apiUrl}/api/...`). */
  readonly apiUrl: string;
  /** The three ports: CouchDB, accounts, API. Kept across suspend/resume. */
  readonly ports: { couch: number; accounts: number; api: number };
  /** The current proxy-auth secret (changes with {@link rotateSecret}). */
  readonly secret: string;
  /** The last requests any service answered (up to `maxRequestRecords`), oldest first. */
  readonly requests: readonly RequestRecord[];
  /** The fidelity profile it runs with. */
  readonly profile: Profile;
  /** True between {@link suspend} and {@link resume}. */
  readonly suspended: boolean;
  /** A full `Authorization` value (`'Bearer …'`) the accounts service and REST API accept for `userName`. */
  bearerFor(userName: string): string;
  /** The proxy-auth headers for `userName` under the current secret (what the token endpoint returns). */
  couchHeadersFor(userName: string): { 'X-Auth-CouchDB-UserName': string; 'X-Auth-CouchDB-Token': string };
  /**
   * Creates the user (as `PUT /_users/org.couchdb.user:{name}` would) and waits for their database, including its
   * admin-only window (`peruserAdminOnlyMs`).
   * Resolves `false` when the user already existed.
   */
  createUser(userName: string): Promise<boolean>;
  /** Replaces the secret with a new random one (or `secret`): every proxy token issued so far fails with 401. */
  rotateSecret(secret?: string): string;
  /** Closes every listener and cuts open connections; data is kept. */
  suspend(): Promise<void>;
  /** Listens again on the same ports (one the system lent meanwhile is waited for, up to 10 s). */
  resume(): Promise<void>;
  /** Frees everything (listeners, timers, in-memory data). Idempotent. */
  stop(): Promise<void>;
  /** Clears {@link requests}. */
  resetRequests(): void;
  /** Counts and bytes of every request since the start or the last {@link resetRequests}, in total, per service and per status. */
  stats(): EmulatorStats;
}

/** Starts an emulator; see {@link EmulatorOptions} for the options and their defaults. */
export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const opts = resolveOptions(options);
  let secret = opts.secret;
  const bearers = new BearerSigner(opts.secret);
  const log = new RequestLog(opts.log, opts.maxRequestRecords);
  const fidelity = createFidelity(opts.profile);
  const storage = await Storage.open(opts.dataDir);
  const { peruserAdminOnlyMs } = opts;
  const users = new Users(storage, opts.peruserDelayMs, () => peruserAdminOnlyMs ?? fidelity.latency('adminOnly'));
  try {
    await users.start();
  } catch (err) {
    users.stop();
    await storage.close();
    // LevelDB's own text ("Corruption: CURRENT file does not end with newline") names no file.
    if (opts.dataDir === undefined) throw err;
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(`The emulator could not read its dataDir "${path.resolve(opts.dataDir)}": ${reason}. Use another directory, or remove this one to start empty`, { cause: err });
  }

  const couch = new Listener(
    createCouchApp({
      storage,
      users,
      log,
      secret: () => secret,
      maxDocumentBytes: opts.maxDocumentBytes,
      maxRequestBytes: opts.maxRequestBytes,
      fidelity,
    }),
    opts.host,
    opts.port,
  );
  const accounts = new Listener(createAccountsApp({ bearers, secret: () => secret, log }), opts.host, opts.accountsPort);
  const api = new Listener(createRestApp({ bearers, fixtures: resolveFixtures(opts.fixtures), log }), opts.host, opts.apiPort);
  const listeners = [couch, accounts, api];

  try {
    for (const l of listeners) await l.listen();
  } catch (err) {
    await Promise.all(listeners.map((l) => l.close()));
    users.stop();
    await storage.close();
    throw err;
  }

  let suspended = false;
  let stopping: Promise<void> | undefined;
  const checkName = (userName: unknown): string => {
    if (typeof userName !== 'string' || userName === '') throw new TypeError('The user name must be a non-empty string');
    return userName;
  };

  const emulator: Emulator = {
    accountsUrl: accounts.url,
    couchUrl: couch.url,
    apiUrl: api.url,
    ports: { couch: couch.port, accounts: accounts.port, api: api.port },
    get secret() {
      return secret;
    },
    get requests() {
      return log.requests;
    },
    profile: opts.profile,
    get suspended() {
      return suspended;
    },
    bearerFor: (userName) => `Bearer ${bearers.token(checkName(userName))}`,
    couchHeadersFor: (userName) => ({
      'X-Auth-CouchDB-UserName': checkName(userName),
      'X-Auth-CouchDB-Token': proxyToken(secret, userName),
    }),
    async createUser(userName) {
      const result = await users.create(checkName(userName));
      if (result.status === 403) throw new Error(`createUser("${userName}"): ${result.body.reason}`);
      await users.whenDatabaseReady(userName);
      if (!storage.exists(userDbName(userName))) await storage.create(userDbName(userName));
      return result.status === 201;
    },
    rotateSecret(next) {
      secret = next === undefined ? randomSecret() : checkName(next);
      log.line('[emulator] secret rotated; earlier proxy tokens are now refused');
      return secret;
    },
    async suspend() {
      if (stopping) throw new Error('The emulator is stopped');
      suspended = true;
      await Promise.all(listeners.map((l) => l.close()));
      log.line('[emulator] suspended (connections refused, data kept)');
    },
    async resume() {
      if (stopping) throw new Error('The emulator is stopped');
      for (const l of listeners) await l.listen();
      suspended = false;
      log.line('[emulator] resumed');
    },
    stop() {
      stopping ??= (async () => {
        users.stop();
        await Promise.all(listeners.map((l) => l.close()));
        await storage.close();
        log.line('[emulator] stopped');
      })();
      return stopping;
    },
    resetRequests: () => log.reset(),
    stats: () => log.stats(),
  };
  return emulator;
}
