/**
 * Options of {@link startEmulator}: their types, their defaults (in one place: {@link DEFAULTS}) and their validation.
 */
import { randomBytes } from 'node:crypto';
import type { RestFixtures } from './fixtures.js';
import { PROFILES } from './fidelity.js';
import type { Profile } from './fidelity.js';

/** A line of the emulator's log. Never contains tokens, bearers or the secret. */
export type LogSink = (line: string) => void;

export interface EmulatorOptions {
  /**
   * Port of the CouchDB service (behind the emulated reverse proxy). `0` picks a free port.
   * @default 0
   */
  port?: number;
  /**
   * Port of the accounts service. `0` picks a free port.
   * @default 0 when `port` is 0, otherwise `port + 1`
   */
  accountsPort?: number;
  /**
   * Port of the REST API service. `0` picks a free port.
   * @default 0 when `port` is 0, otherwise `port + 2`
   */
  apiPort?: number;
  /**
   * Interface every service listens on; also the host in the returned URLs.
   * @default '127.0.0.1'
   */
  host?: string;
  /**
   * The proxy-authentication secret shared by "CouchDB" and the accounts service (CouchDB's `[chttpd_auth] secret`).
   * Bearers minted by {@link Emulator.bearerFor} are signed with a key derived from this initial secret, so they stay
   * valid across {@link Emulator.rotateSecret} and across restarts with the same `secret`.
   * @default a random 32-character hex string
   */
  secret?: string;
  /**
   * Largest document (its JSON, without `_attachments`) CouchDB accepts; larger → 413 `document_too_large`.
   * @default 8_000_000
   */
  maxDocumentBytes?: number;
  /**
   * Largest request body the reverse proxy lets through (nginx `client_max_body_size`); larger → 413 with an HTML body.
   * `0` disables the limit.
   * @default 1_048_576
   */
  maxRequestBytes?: number;
  /**
   * Delay between the creation of a user document and the appearance of the user's database (couch_peruser is
   * asynchronous; real CouchDB: 404 at 50 ms, 200 at 100 ms).
   * @default 50
   */
  peruserDelayMs?: number;
  /**
   * How long a new per-user database stays admin-only once it appears (couch_peruser sets its members a moment later;
   * meanwhile the user's own requests get `403 forbidden`). A number fixes it, e.g. to test a client's handling.
   * @default drawn per database from 5–60 ms under `profile: 'couchdb'`, 0 under `'emulator'`
   */
  peruserAdminOnlyMs?: number;
  /**
   * Directory for on-disk (LevelDB) storage; data survives restarts. Without it everything lives in memory and is
   * dropped by {@link Emulator.stop}.
   * @default undefined (in memory)
   */
  dataDir?: string;
  /**
   * Data served by the REST endpoints; see docs/emulator.md for the shapes. Missing entries keep their defaults.
   * @default DEFAULT_FIXTURES
   */
  fixtures?: Partial<RestFixtures>;
  /**
   * Request log lines: `true` writes them to stderr, a function receives each line.
   * @default false (the CLI turns it on)
   */
  log?: boolean | LogSink;
  /**
   * How faithful to a real CouchDB 3.4 behind nginx the CouchDB service is. `'emulator'`: answers at once, lenient.
   * `'couchdb'`: the real server's measured latencies, the per-user database's admin-only window right after sign-up
   * (403 `forbidden`), opaque sequences and CouchDB's refusals (invalid UTF-8, content types, query parameters,
   * revisions); see docs/emulator.md for the full list.
   * @default 'emulator'
   */
  profile?: Profile;
  /**
   * How many request records {@link Emulator.requests} keeps (the oldest are dropped; `stats()` still counts every
   * request). `0` keeps none.
   * @default 10_000
   */
  maxRequestRecords?: number;
}

/** Every option's default. `accountsPort`/`apiPort` are derived from `port` when not given. */
export const DEFAULTS = {
  port: 0,
  host: '127.0.0.1',
  maxDocumentBytes: 8_000_000,
  maxRequestBytes: 1_048_576,
  peruserDelayMs: 50,
  log: false,
  profile: 'emulator',
  maxRequestRecords: 10_000,
} as const satisfies EmulatorOptions;

export interface ResolvedOptions {
  port: number;
  accountsPort: number;
  apiPort: number;
  host: string;
  secret: string;
  maxDocumentBytes: number;
  maxRequestBytes: number;
  peruserDelayMs: number;
  peruserAdminOnlyMs: number | undefined;
  dataDir: string | undefined;
  fixtures: Partial<RestFixtures>;
  log: LogSink | undefined;
  profile: Profile;
  maxRequestRecords: number;
}

const KNOWN = new Set([
  'port',
  'accountsPort',
  'apiPort',
  'host',
  'secret',
  'maxDocumentBytes',
  'maxRequestBytes',
  'peruserDelayMs',
  'peruserAdminOnlyMs',
  'dataDir',
  'fixtures',
  'log',
  'profile',
  'maxRequestRecords',
]);

function checkInteger(name: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`startEmulator: option "${name}" must be an integer between ${min} and ${max}, got ${String(value)}`);
  }
  return value;
}

function checkString(name: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') {
    throw new TypeError(`startEmulator: option "${name}" must be a non-empty string, got ${typeof value}`);
  }
  return value;
}

/** A random secret in the format of the seed's example (32 lowercase hex characters). */
export function randomSecret(): string {
  return randomBytes(16).toString('hex');
}

/** Merges `options` over {@link DEFAULTS} and validates the result. */
export function resolveOptions(options: unknown = {}): ResolvedOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TypeError('startEmulator: options must be an object, e.g. startEmulator({ port: 0 })');
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN.has(key)) throw new TypeError(`startEmulator: unknown option "${key}"`);
  }
  // Options explicitly set to undefined keep their default.
  const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as EmulatorOptions;
  const merged = { ...DEFAULTS, ...given };

  const port = checkInteger('port', merged.port, 0, 65535);
  const derived = (offset: number) => (port === 0 ? 0 : port + offset);
  const accountsPort = checkInteger('accountsPort', merged.accountsPort ?? derived(1), 0, 65535);
  const apiPort = checkInteger('apiPort', merged.apiPort ?? derived(2), 0, 65535);
  const nonZero = [port, accountsPort, apiPort].filter((p) => p !== 0);
  if (new Set(nonZero).size !== nonZero.length) {
    throw new RangeError(`startEmulator: port, accountsPort and apiPort must differ (got ${port}, ${accountsPort}, ${apiPort})`);
  }

  const host = checkString('host', merged.host);
  const secret = merged.secret === undefined ? randomSecret() : checkString('secret', merged.secret);
  const maxDocumentBytes = checkInteger('maxDocumentBytes', merged.maxDocumentBytes, 1);
  const maxRequestBytes = checkInteger('maxRequestBytes', merged.maxRequestBytes, 0);
  const peruserDelayMs = checkInteger('peruserDelayMs', merged.peruserDelayMs, 0, 600_000);
  const peruserAdminOnlyMs = merged.peruserAdminOnlyMs === undefined ? undefined : checkInteger('peruserAdminOnlyMs', merged.peruserAdminOnlyMs, 0, 600_000);
  const dataDir = merged.dataDir === undefined ? undefined : checkString('dataDir', merged.dataDir);

  const fixtures = merged.fixtures ?? {};
  if (typeof fixtures !== 'object' || fixtures === null || Array.isArray(fixtures)) {
    throw new TypeError('startEmulator: option "fixtures" must be an object');
  }

  let log: LogSink | undefined;
  if (merged.log === true) log = (line) => process.stderr.write(`${line}\n`);
  else if (typeof merged.log === 'function') log = merged.log;
  else if (merged.log !== false) throw new TypeError('startEmulator: option "log" must be a boolean or a function');

  const profile = merged.profile;
  if (!PROFILES.includes(profile)) {
    throw new TypeError(`startEmulator: option "profile" must be one of ${PROFILES.map((p) => `'${p}'`).join(', ')}, got ${String(profile)}`);
  }
  const maxRequestRecords = checkInteger('maxRequestRecords', merged.maxRequestRecords, 0, 10_000_000);

  return {
    port,
    accountsPort,
    apiPort,
    host,
    secret,
    maxDocumentBytes,
    maxRequestBytes,
    peruserDelayMs,
    peruserAdminOnlyMs,
    dataDir,
    fixtures,
    log,
    profile,
    maxRequestRecords,
  };
}
