/**
 * The document layout. A value is stored as `{ _id: key, doc: value, feat: { updatedAt, expiresAt?, by?, from?, n? } }`,
 * readable by existing apps that store `{ _id, doc }` (and their documents are read as values). `by`/`from`/`n` mark
 * the revision's writer, the start of its run of edits and its place in the writer's writes (lineage.ts); documents
 * without them are read as before.
 */

import { INTERNAL_PREFIX } from './validate.js';
import { hashString } from '../util/hash.js';
import { stringify } from '../util/json.js';

/** Sorts after every chunk id (hex after the chunk prefix): `CHUNK_PREFIX + HIGH` ends the chunk range. */
export const HIGH = '\ufff0';

export const CHUNK_PREFIX = `${INTERNAL_PREFIX}chunk~`;

/** Room left in a document for the SDK's envelope and replication's `_revisions` (up to 1,000 revision ids). */
export const DOC_OVERHEAD_BYTES = 64 * 1024;
/** Room left in a chunk document for its envelope (`_id`, `_rev`, `_revisions` of one revision). */
export const CHUNK_ENVELOPE_BYTES = 512;

export interface ChunkDoc {
  _id: string;
  _rev?: string;
  data: string;
}

/** The largest value (UTF-8 JSON bytes) stored inline, for the given server limits. */
export function inlineLimit(maxDocumentBytes: number, maxRequestBytes: number): number {
  const limit = maxRequestBytes > 0 ? Math.min(maxDocumentBytes, maxRequestBytes) : maxDocumentBytes;
  return Math.max(1024, limit - DOC_OVERHEAD_BYTES);
}

export function isChunkId(id: string): boolean {
  return id.startsWith(CHUNK_PREFIX);
}

export interface FeatMeta {
  /** Write time, ms since the epoch: the writer's clock. */
  updatedAt: number;
  /** Expiry time (ttl), ms since the epoch. */
  expiresAt?: number;
  /** For a value too big for one document: the ids of the chunk documents holding its JSON text, in order. */
  chunks?: string[];
  /** The writer (lineage.ts). */
  by?: string;
  /** Where the writer's run of edits started: another writer's revision, or `~<token>` (lineage.ts). */
  from?: string;
  /** The writer's count of its writes: orders its run without its clock (lineage.ts). */
  n?: number;
  /** Earlier runs this one descends from, newest first: `<by>:<n>:<from>` each (lineage.ts). */
  anc?: string[];
  /** The fingerprint of the content the marks were written with (`contentPrint`): another app's edit keeping `feat` does not match it. */
  h?: string;
}

export interface StoredDoc {
  _id: string;
  _rev?: string;
  _deleted?: boolean;
  _conflicts?: string[];
  /** Deleted leaves next to the winner (CouchDB, `deleted_conflicts=true`): a removal on another branch. */
  _deleted_conflicts?: string[];
  doc?: unknown;
  feat?: FeatMeta;
}

/** A pending write of one document. */
export interface WriteOp {
  deleted: boolean;
  value: unknown;
  /** When the write was asked for (ms): its stamp, the writer's clock. */
  at: number;
  /** The call's place in the app's order of calls and reads (`tick()` in rev-cache.ts). */
  seq: number;
  expiresAt?: number | undefined;
  /** `set()`'s `ttl`, until the write is handed to the database: its expiry counts from then (store.ts #writeBatch). */
  ttl?: number | undefined;
  /** The value's JSON text, computed once when first needed (size check, content hash). */
  json?: string;
  /** An upper bound of the value's JSON text in UTF-8 bytes, when known (see `snapshotValue`). */
  maxBytes?: number;
  /** The writer, the start of its run and its count (lineage.ts), set when the write is sent. */
  by?: string | undefined;
  from?: string | undefined;
  n?: number | undefined;
  anc?: string[] | undefined;
}

/**
 * What a content hash adds for an expiry: a copy that expires (or expires at another time) is not the same content
 * as this write's, so `setParts` does not skip it.
 */
export const expiryTag = (expiresAt: number | undefined): string => (expiresAt === undefined ? '' : `@${expiresAt}`);

/** The value's JSON text (cached on the op). */
export function jsonOf(op: WriteOp): string {
  return (op.json ??= JSON.stringify(op.value));
}

/** The document for a write; with `chunks`, the value lives in those chunk documents and this is its manifest. */
export function encode(id: string, op: WriteOp, rev: string | undefined, chunks?: string[]): StoredDoc {
  const feat: FeatMeta = { updatedAt: op.at };
  if (op.expiresAt !== undefined) feat.expiresAt = op.expiresAt;
  if (chunks && !op.deleted) feat.chunks = chunks;
  if (op.by !== undefined && op.from !== undefined) {
    feat.by = op.by;
    feat.from = op.from;
    if (op.n !== undefined) feat.n = op.n;
    if (op.anc?.length) feat.anc = op.anc;
    feat.h = contentPrint(op.deleted, chunks, op.deleted || chunks ? undefined : jsonOf(op), op.expiresAt);
  }
  const doc: StoredDoc = op.deleted ? { _id: id, _deleted: true, feat } : chunks ? { _id: id, feat } : { _id: id, doc: op.value, feat };
  if (rev !== undefined) doc._rev = rev;
  return doc;
}

/**
 * A short fingerprint of a revision's content (its value's JSON text, or its chunk ids, or a deletion, and its expiry):
 * the lineage marks vouch only for the content they were written with (lineage.ts). Not for security: another app
 * that edits the value and keeps the document's `feat` as it read it is told apart, not an attacker.
 */
export function contentPrint(deleted: boolean, chunks: string[] | undefined, json: string | undefined, expiresAt: number | undefined): string {
  return hashString((deleted ? '-' : chunks ? `#${chunks.join(',')}` : `=${json}`) + expiryTag(expiresAt));
}

/** The fingerprint of a stored revision's content (`contentPrint`). */
export function storedPrint(raw: StoredDoc): string {
  const { deleted, chunks, expiresAt } = decode(raw);
  return contentPrint(deleted, chunks, deleted || chunks ? undefined : JSON.stringify(raw.doc), expiresAt);
}

export interface Decoded {
  value: unknown;
  updatedAt: number;
  expiresAt: number | undefined;
  rev: string | undefined;
  deleted: boolean;
  /** Set for a chunked value: `value` is undefined until the chunks are read. */
  chunks: string[] | undefined;
}

export function decode(raw: StoredDoc): Decoded {
  const meta = raw.feat;
  const updatedAt = typeof meta?.updatedAt === 'number' ? meta.updatedAt : 0;
  const expiresAt = typeof meta?.expiresAt === 'number' ? meta.expiresAt : undefined;
  const deleted = raw._deleted === true;
  const chunks = Array.isArray(meta?.chunks) && meta.chunks.every((c) => typeof c === 'string') ? meta.chunks : undefined;
  return { value: deleted ? undefined : raw.doc, updatedAt, expiresAt, rev: raw._rev, deleted, chunks };
}

export function isExpired(decoded: { expiresAt?: number | undefined }, now = Date.now()): boolean {
  return decoded.expiresAt !== undefined && decoded.expiresAt <= now;
}

/**
 * `raw` is the revision `op` wrote (a write whose answer was lost, met again): its time, and its value (a deletion, or a
 * big value's manifest: its time alone).
 */
export function isWriteOf(raw: StoredDoc, op: WriteOp): boolean {
  const seen = decode(raw);
  return seen.updatedAt === op.at && seen.deleted === (op.deleted === true) && (seen.deleted || seen.chunks !== undefined || sameJson(seen.value, op.value));
}

/** Deep equality of two JSON values by their canonical serialization. */
export function sameJson(a: unknown, b: unknown): boolean {
  return a === b || canonical(a) === canonical(b);
}

function canonical(value: unknown): string {
  return stringify(value, true) ?? 'undefined';
}

/**
 * A revision the replica holds without its value (too deep for it: sync/live-pull.ts `MAX_PULLED_DEPTH`): never
 * pushed (the server's own, whose value this device never had: after a restore it would hide the value), resolved on
 * the server, and an export says it could not read it.
 */
export const isUnheld = (doc: unknown): boolean => (doc as { unheld?: unknown } | null | undefined)?.unheld === true;
