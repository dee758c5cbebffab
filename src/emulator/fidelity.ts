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
  /** A sequence as the client sees it: the integer, or under `'couchdb'` an opaque string. */
  encodeSeq(db: string, seq: number): number | string;
  /**
   * The integer behind a `since` value, `'now'`, or undefined when it is malformed (CouchDB: 400). Integers are
   * accepted only under `'emulator'`; `0` always.
   */
  decodeSeq(db: string, since: string): number | 'now' | undefined;
}

function opaque(db: string, seq: number): string {
  const hash = createHash('sha256').update(`${db}\u0000${seq}`).digest('base64url').slice(0, 40);
  return `${seq}-g1AAAAB${hash}`;
}

const OPAQUE = /^(\d{1,15})-g1AAAAB[A-Za-z0-9_-]{40}$/;

export function createFidelity(profile: Profile): Fidelity {
  const strict = profile === 'couchdb';
  return {
    profile,
    strict,
    latency: (kind) => (strict ? drawLatency(LATENCY[kind]) : 0),
    encodeSeq: (db, seq) => (strict ? opaque(db, seq) : seq),
    decodeSeq(db, since) {
      if (since === 'now') return 'now';
      if (since === '0' || since === '') return 0;
      if (!strict) return /^\d{1,15}$/.test(since) ? Number(since) : undefined;
      const match = OPAQUE.exec(since);
      if (!match) return undefined;
      const seq = Number(match[1]);
      return opaque(db, seq) === since ? seq : undefined;
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
