/**
 * Values too big for one document are stored as the JSON text cut into content-addressed chunk documents
 * (`feat~chunk~<sha-256>`) plus a manifest in the key's own document (`feat.chunks`). Cuts are content-defined
 * (a rolling hash picks them), so an edit in the middle of a big value changes one or two chunks, not every chunk
 * after it; an unchanged chunk has the same id and is never sent again.
 */
import { FeatError, toFeatError } from '../errors.js';
import { CHUNK_ENVELOPE_BYTES, CHUNK_PREFIX, type ChunkDoc, type StoredDoc } from './codec.js';
import type { AllDocsRow, Db } from './db.js';
import { sleep } from '../util/abort.js';
import { hex } from '../util/hash.js';
import { readReplica, underLock } from '../util/chunk-lock.js';
import { monotonicNow } from '../util/clock.js';

// Gear table for the rolling hash: 256 fixed pseudo-random 32-bit numbers (xorshift, fixed seed).
const GEAR = (() => {
  const table = new Uint32Array(256);
  let x = 0x9e3779b9;
  for (let i = 0; i < 256; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    table[i] = x >>> 0;
  }
  return table;
})();

/** Bytes a character costs inside a JSON string literal, in UTF-8. */
function escapedCost(c: number): number {
  if (c === 0x22 || c === 0x5c) return 2; // " and \
  if (c < 0x20) return 6; // \u00XX
  if (c < 0x80) return 1;
  if (c < 0x800) return 2;
  if (c >= 0xd800 && c <= 0xdfff) return 2; // half of a 4-byte pair
  return 3;
}

/**
 * Cuts `text` into pieces whose JSON-escaped UTF-8 size is at most `maxBytes`. Cut points are chosen by content
 * (a gear rolling hash), with an average of about a quarter of the maximum, and never inside a surrogate pair.
 */
export function splitText(text: string, maxBytes: number): string[] {
  const minBytes = Math.floor(maxBytes / 8);
  const bits = Math.max(4, Math.floor(Math.log2(maxBytes / 4)));
  const shift = 32 - bits;
  const pieces: string[] = [];
  let start = 0;
  let bytes = 0;
  let hash = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const cost = escapedCost(c);
    if (bytes + cost > maxBytes) {
      // Never split a surrogate pair.
      const cut = c >= 0xdc00 && c <= 0xdfff && i - 1 > start ? i - 1 : i;
      pieces.push(text.slice(start, cut));
      start = cut;
      bytes = 0;
      hash = 0;
      for (let j = cut; j <= i; j++) bytes += escapedCost(text.charCodeAt(j));
      continue;
    }
    bytes += cost;
    hash = ((hash << 1) + GEAR[c & 0xff]!) >>> 0;
    if (bytes >= minBytes && hash >>> shift === 0) {
      const next = text.charCodeAt(i + 1);
      if (c >= 0xd800 && c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) continue;
      pieces.push(text.slice(start, i + 1));
      start = i + 1;
      bytes = 0;
      hash = 0;
    }
  }
  if (start < text.length || pieces.length === 0) pieces.push(text.slice(start));
  return pieces;
}

const encoder = new TextEncoder();

/** The content address of a piece. */
export async function chunkIdOf(piece: string): Promise<string> {
  return CHUNK_PREFIX + hex(new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(piece))));
}

/** Cuts a value's JSON text into chunk documents. */
export async function toChunks(json: string, maxDocBytes: number): Promise<ChunkDoc[]> {
  const pieces = splitText(json, maxDocBytes - CHUNK_ENVELOPE_BYTES);
  return Promise.all(pieces.map(async (data) => ({ _id: await chunkIdOf(data), data })));
}


interface ChunkReader {
  allDocs(options: Record<string, unknown>): Promise<{ rows: { id?: string; key: string; value?: { deleted?: boolean }; doc?: unknown; error?: string }[] }>;
}

/**
 * Reads a chunked value's JSON text. Chunks are written before the manifest, so they are normally there; on a
 * replica where replication is still bringing them, the read waits up to `waitMs` and then fails with `not_found`
 * rather than return a torn value. `replica`: `db` is the local replica.
 */
export async function readChunks(db: ChunkReader, ids: string[], waitMs: number, key: string, replica = false): Promise<string> {
  const deadline = monotonicNow() + waitMs;
  const found = new Map<string, string>();
  for (;;) {
    const missing = [...new Set(ids)].filter((id) => !found.has(id));
    const read = () => db.allDocs({ keys: missing, include_docs: true });
    // On the replica, bounded and asked again (see readReplica).
    const result = await (replica ? readReplica(read, `reading the chunks of "${key}"`) : read());
    for (const row of result.rows) {
      const data = (row.doc as { data?: unknown } | null | undefined)?.data;
      if (typeof data === 'string' && !row.value?.deleted) found.set(row.key, data);
    }
    if (ids.every((id) => found.has(id))) {
      // Content-addressed: a chunk whose content is not what its address says (changed on the server, a broken copy)
      // is an error, never a silently different value.
      for (const [id, data] of found) {
        if ((await chunkIdOf(data)) !== id) throw new FeatError('bad_response', `A chunk of "${key}" does not hold what its address (SHA-256) says: it was changed outside the SDK. Write the value again`, { key });
      }
      return ids.map((id) => found.get(id)!).join('');
    }
    if (monotonicNow() >= deadline) {
      const missing = `${ids.filter((id) => !found.has(id)).length} of ${ids.length} chunks missing`;
      throw new FeatError(
        'not_found',
        replica
          ? `Part of the value of "${key}" has not arrived yet (${missing}); it is still syncing — try again shortly`
          : // On the server chunks are written before their manifest: one missing there does not come by waiting.
            `Part of the value of "${key}" is missing on the server (${missing}): write it again`,
        { key },
      );
    }
    await sleep(100);
  }
}

/**
 * `step`, tried again twice after a failure of the server or of the connection, after a jittered pause (0.5 s, then 1 s,
 * on average); each try is bounded by the transport (requestTimeout). `signal` ends the pauses.
 */
export async function retried<T>(step: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await step();
    } catch (error) {
      if (attempt > 2 || !['network', 'timeout', 'server'].includes(toFeatError(error).code)) throw error;
      await sleep(250 * 2 ** attempt * (0.5 + Math.random()), signal);
    }
  }
}

/** True when an `_all_docs` row says its document is not there (never written, or deleted). */
const absent = (row: AllDocsRow | undefined) => !row?.value || row.value.deleted || row.error;

/**
 * Which of `ids` the database has. On the replica the chunk lock is held (see readReplica); on the server (`replica`
 * false) the transport bounds the request (requestTimeout): a slow server is not a blocked IndexedDB.
 */
async function presence(db: Db, ids: string[], key: string, replica: boolean): ReturnType<Db['allDocs']> {
  const read = () => db.allDocs({ keys: ids });
  try {
    return await (replica ? readReplica(read, `reading which chunks of "${key}" are stored`, true) : read());
  } catch (error) {
    throw toFeatError(error, { key });
  }
}

/** Writes chunk documents, 16 a request (on the replica, bounded: the chunk lock is held); 409: there already. */
async function writeChunks(db: Db, chunks: ChunkDoc[], key: string, replica: boolean): Promise<void> {
  for (let i = 0; i < chunks.length; i += 16) {
    const write = db.bulkDocs(chunks.slice(i, i + 16) as unknown as StoredDoc[]);
    const written = await (replica ? underLock(write, `writing chunks of "${key}"`) : write);
    written.forEach((r) => {
      if (r.error && r.status !== 409) throw toFeatError(r, { key });
    });
  }
}

const uniqueChunks = <C extends Pick<ChunkDoc, '_id'>>(chunks: C[]) => [...new Map(chunks.map((c) => [c._id, c])).values()];

/**
 * Writes the chunks the database does not have yet: content-addressed, so a chunk found there is never sent again. The
 * database is asked each time (never a cache): another device's garbage collection may have deleted a chunk since; a
 * deleted one is written again, over its tombstone. `replica`: `db` is the local replica.
 */
export async function storeChunks(db: Db, chunks: ChunkDoc[], key: string, replica: boolean): Promise<void> {
  const unique = uniqueChunks(chunks);
  const present = await presence(db, unique.map((c) => c._id), key, replica);
  await writeChunks(db, unique.filter((_, i) => absent(present.rows[i])), key, replica);
}

/** Chunk ids asked in one `_all_docs` (about 80 bytes each in its body). */
const KEYS_AT_ONCE = 1_000;

/**
 * On the server, once the manifests of big values are stored: the chunks of all of them are looked up again (one
 * request of ids, no content), and each value's chunks deleted meanwhile are written again. Returns the failure of each
 * value whose chunks could not be checked or written (its manifest is stored): each step is tried again twice first.
 *
 * A write sends only the chunks the server does not have, and another device's garbage collection may delete the
 * ones it found there (orphans a replaced value left, past their grace) before the manifest lands: the value would
 * then be torn for good. The look comes after the manifest is stored, so that it closes the window with the
 * collector's own look (gc.ts `restoreReferenced`): a deletion that lands before this look is seen here, and the
 * chunk written again; one that lands after it is the collector's, which then reads the server's changes and finds
 * this manifest, stored before this look began, and writes the chunk again itself. (Looked up before the manifest
 * was stored, a deletion landing between the look and the manifest would be seen by neither.) A chunk written again
 * here is a new revision: a collection that scanned the deleted one cannot delete it (409), and one that scans it
 * now finds the manifest that refers to it.
 *
 * `from` (the local replica, push-tracker.ts): the chunks' content is not given but read there (one missing there too
 * fails the value), and only the chunks deleted on the server are written again — one it never had is still on its
 * way there with the push, which sends it as this replica's revision (written here too, it would be a conflict).
 */
export async function keepChunks(db: Db, values: { key: string; chunks: Pick<ChunkDoc, '_id'>[] }[], from?: Db): Promise<Map<string, FeatError>> {
  const failed = new Map<string, FeatError>();
  const fail = (key: string, error: unknown) => {
    const cause = toFeatError(error, { key });
    // (From the replica: the push tracker keeps the value pending and checks again by itself.)
    const then = from ? 'this device keeps it pending and tries again' : 'write it again';
    failed.set(key, new FeatError(cause.code, `The value of "${key}" was stored, but whether its chunks are all on the server could not be checked: ${then}`, { key, cause }));
  };
  const ids = [...new Set(values.flatMap((v) => v.chunks.map((c) => c._id)))];
  const gone = new Set<string>();
  try {
    for (let i = 0; i < ids.length; i += KEYS_AT_ONCE) {
      const { rows } = await retried(() => db.allDocs({ keys: ids.slice(i, i + KEYS_AT_ONCE) }));
      for (const row of rows) if (from ? row.value?.deleted : absent(row)) gone.add(row.key);
    }
  } catch (error) {
    for (const { key } of values) fail(key, error);
    return failed;
  }
  for (const { key, chunks } of values) {
    const missing = uniqueChunks(chunks).filter((c) => gone.has(c._id));
    // (From the replica: read 16 at a time, each checked against its address; only those deleted on the server.)
    const content = async (some: typeof missing) => (from ? Promise.all(some.map(async ({ _id }) => ({ _id, data: await readChunks(from, [_id], 0, key, true) }))) : (some as ChunkDoc[]));
    try {
      // (A chunk two values share is written twice: the second, 409.)
      for (let i = 0; i < missing.length; i += 16) await retried(async () => writeChunks(db, await content(missing.slice(i, i + 16)), key, false));
    } catch (error) {
      fail(key, error);
    }
  }
  return failed;
}
