/**
 * The fidelity profile. `'emulator'` (the default) answers at once and keeps the emulator's lenient historical answers;
 * `'couchdb'` adds what a real CouchDB 3.4 behind nginx does that a client can trip over (COUCHDB-FACTS.md): the
 * measured latencies, the per-user database's admin-only window right after sign-up, opaque sequences, and the
 * refusals the lenient emulator skips (invalid UTF-8, content types, query parameters, revisions).
 */
import { createHash } from 'node:crypto';

/** `'emulator'`: fast and lenient; `'couchdb'`: real-server timing and quirks. */
/** `'fast'` (API.md's name) and `'emulator'` (the default's earlier name) are the same profile. */
export type Profile = 'fast' | 'emulator' | 'couchdb';

export const PROFILES: readonly Profile[] = ['fast', 'emulator', 'couchdb'];

/** Kinds of work that take measurably different time on the real server. */
export type LatencyKind = 'read' | 'write' | 'bulk' | 'notice' | 'signup' | 'adminOnly';

/**
 * Milliseconds added to the emulator's own time so the total matches the real server (min / median / p90, measured on
 * loopback with CouchDB 3.4.3 + nginx; see COUCHDB-FACTS.md "Timing"). `adminOnly` is how long a new per-user database
 * refuses its own user (real: 5–25 ms single node, up to 59 ms on a cluster).
 */
export const LATENCY: Record<LatencyKind, readonly [min: number, median: number, p90: number]> = {
  read: [0, 0.8, 1.6],
  write: [4.4, 5.4, 7.7],
  bulk: [3, 5, 7],
  notice: [1, 2, 3.5],
  signup: [8, 15, 30],
  adminOnly: [5, 20, 40],
  // p90 40 → the slowest tenth reach 60 ms, like the 3-node cluster's widest window (59 ms).
};

/** A draw from the piecewise-linear distribution through min, median and p90 (the top 10 % reach p90 + (p90 − median)). */
export function drawLatency([min, median, p90]: readonly [number, number, number], u: number = Math.random()): number {
  if (u < 0.5) return min + ((median - min) * u) / 0.5;
  if (u < 0.9) return median + ((p90 - median) * (u - 0.5)) / 0.4;
  return p90 + ((p90 - median) * (u - 0.9)) / 0.1;
}

export interface Fidelity {
  readonly profile: Profile;
  /** True under `'couchdb'`: the real server's refusals and quirks apply. */
  readonly strict: boolean;
  /** Extra milliseconds for one request or notice of `kind` (0 under `'emulator'`). */
  latency(kind: LatencyKind): number;
  /**
   * A sequence as the client sees it: an opaque string naming the database's instance, as CouchDB's names its shards
   * (`instance`: Storage.instance). Both profiles (the default's integers let a position in a database deleted and
   * made again, an emulator restarted in memory, skip the new one's first changes).
   */
  encodeSeq(db: string, seq: number, instance: string): string;
  /**
   * The integer behind a `since` value, `'now'`, or undefined when it is malformed (CouchDB: 400). A sequence of
   * another database, or of an earlier instance of this one, is 0: CouchDB reads from the start when the shard it
   * names is not there any more (measured: a `since` of a database deleted and made again lists every change of the
   * new one). Integers are accepted only under `'emulator'` (as positions in this instance); `0` always.
   */
  decodeSeq(db: string, since: string, instance: string): number | 'now' | undefined;
}

const hash = (text: string, length: number): string => createHash('sha256').update(text).digest('base64url').slice(0, length);

/** The part of a sequence that names the database instance (16 characters). */
const instanceTag = (db: string, instance: string): string => hash(`${db}\u0000${instance}`, 16);

function opaque(db: string, seq: number, instance: string): string {
  const tag = instanceTag(db, instance);
  return `${seq}-g1AAAAB${tag}${hash(`${tag}\u0000${seq}`, 40)}`;
}

/** `N-g1AAAAB`, the instance's tag, then a check over the tag and N (a made-up sequence is malformed: 400). */
const OPAQUE = /^(\d{1,15})-g1AAAAB([A-Za-z0-9_-]{16})([A-Za-z0-9_-]{40})$/;
/** The form earlier emulators wrote (a check over the database's name and N, no instance): read from the start. */
const UNTAGGED = /^(\d{1,15})-g1AAAAB([A-Za-z0-9_-]{40})$/;

export function createFidelity(profile: Profile): Fidelity {
  const strict = profile === 'couchdb';
  return {
    profile,
    strict,
    latency: (kind) => (strict ? drawLatency(LATENCY[kind]) : 0),
    encodeSeq: opaque,
    decodeSeq(db, since, instance) {
      if (since === 'now') return 'now';
      if (since === '0' || since === '') return 0;
      if (!strict && /^\d{1,15}$/.test(since)) return Number(since);
      const match = OPAQUE.exec(since);
      if (!match) {
        const old = UNTAGGED.exec(since);
        return old && hash(`${db}\u0000${old[1]}`, 40) === old[2] ? 0 : undefined;
      }
      const [, n, tag, check] = match as unknown as [string, string, string, string];
      if (hash(`${tag}\u0000${n}`, 40) !== check) return undefined;
      return tag === instanceTag(db, instance) ? Number(n) : 0;
    },
  };
}

/** True when the bytes are valid UTF-8 and the JSON text holds no lone surrogate escape (what CouchDB's parser refuses). */
export function isCouchJsonText(body: Buffer): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    return false;
  }
  return true;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** True when a parsed JSON value holds a lone surrogate in any string or key (CouchDB refuses such bodies). */
export function hasLoneSurrogate(value: unknown, depth = 0): boolean {
  if (depth > 200) return false;
  if (typeof value === 'string') return LONE_SURROGATE.test(value);
  if (Array.isArray(value)) return value.some((v) => hasLoneSurrogate(v, depth + 1));
  if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) if (LONE_SURROGATE.test(k) || hasLoneSurrogate(v, depth + 1)) return true;
  }
  return false;
}

/** True when a parsed JSON value holds a number JSON.parse made infinite (`1e400`): CouchDB's parser refuses it. */
export function hasNonFiniteNumber(value: unknown, depth = 0): boolean {
  if (depth > 200) return false;
  if (typeof value === 'number') return !Number.isFinite(value);
  if (Array.isArray(value)) return value.some((v) => hasNonFiniteNumber(v, depth + 1));
  if (typeof value === 'object' && value !== null) return Object.values(value).some((v) => hasNonFiniteNumber(v, depth + 1));
  return false;
}

export const sleep = (ms: number): Promise<void> => (ms <= 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, ms)));
