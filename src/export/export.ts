/**
 * Export: the user's keys as NDJSON — a header line, then one line per key. Two passes over the database, each a page
 * at a time, so memory holds one page (plus the list of exported ids), never the whole data set:
 *
 * 1. scan — every user document (chunk documents skipped), to decide which keys are exported (live, not expired at
 *    `exportedAt`, holding a value) and count them, so the header carries exact counts;
 * 2. export — those keys' current documents, in pages bounded by count and by size, big values reassembled.
 */
import { FeatError, FeatValidationError } from '../errors.js';
import { decode, isExpired, isUnheld, type StoredDoc } from '../store/codec.js';
import { parsePartId } from '../store/ids.js';
import { unreadableValue } from '../store/unreadable.js';
import { checkSignal, throwIfAborted, withSignal } from '../util/abort.js';
import { checkOptions as copyOptions } from '../store/store.js';
import type { Db } from '../store/db.js';
import type { ClientIo } from './io.js';
import { stringify } from '../util/json.js';
import { allDocs, userDocPages } from './pages.js';
import type { ExportHeader, ExportLine, ExportOptions, ProgressEvent } from './types.js';

export const FORMAT = 'feat-export';
export const VERSION = 1;

/** Documents per page of the scan. */
const SCAN_PAGE = 100;
/** Most documents, and most bytes (estimated from the scan), per page of the export. */
const EXPORT_PAGE = 100;
const EXPORT_PAGE_BYTES = 4 * 1024 * 1024;

export function checkOptions(options: unknown, name: string): { onProgress?: (e: ProgressEvent) => void; signal?: AbortSignal } {
  const o = copyOptions(options, name);
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') {
    throw new FeatValidationError('invalid_argument', '"onProgress" must be a function');
  }
  checkSignal(o.signal);
  return o as { onProgress?: (e: ProgressEvent) => void };
}

/**
 * Calls `onProgress` only when something changed, so listeners see a clean, monotone sequence. One that throws does
 * not stop the work: its error is reported (`warn`: the client's `error` event) as a listener's is.
 */
export function progress(onProgress: ((e: ProgressEvent) => void) | undefined, warn: ClientIo['warn']) {
  let last = '';
  return (phase: ProgressEvent['phase'], done: number, total: number) => {
    const key = `${phase}:${done}:${total}`;
    if (!onProgress || key === last) return;
    last = key;
    try {
      onProgress({ phase, done, total });
    } catch (error) {
      warn(new FeatError('invalid_argument', `The onProgress callback threw: ${error instanceof Error ? error.message : String(error)}`, { cause: error }));
    }
  };
}

/** The scan's decision for one document: is it a key to export? */
function exported(doc: StoredDoc, now: number): boolean {
  const d = decode(doc);
  return !d.deleted && !isExpired(d, now) && (d.chunks !== undefined || d.value !== undefined || isUnheld(doc));
}

/** The export line of a document that the scan counted. */
async function lineOf(io: ClientIo, db: Parameters<ClientIo['store']['valueOf']>[0], id: string, doc: StoredDoc | null | undefined, now: number) {
  const line: ExportLine = { key: id };
  if (!doc || !exported(doc, now)) {
    // Deleted (or replaced by a document without a value) after the scan counted it.
    line.deleted = true;
    return JSON.stringify(line);
  }
  const d = decode(doc);
  try {
    // Another app's value too deep for this device's replica (held without it: live-pull.ts): an "error" line.
    if (isUnheld(doc)) throw new FeatError('invalid_value', `The value of "${id}" is nested deeper than this device's replica holds; export in remote mode to take it out`, { key: id });
    // As of the export's start (`exportedAt`): a value expiring meanwhile is exported, as the scan counted it.
    line.value = await io.store.valueOf(db, doc, now);
  } catch (error) {
    if (!unreadableValue(error, id) && !(isUnheld(doc) && error instanceof FeatError)) throw error;
    // Its value cannot be read (a manifest whose chunks are missing or damaged): the key is still in the export, as a
    // line that says so (an import skips it), and the failure goes to the client's `error` event — one broken
    // document neither fails the user's backup of every other key nor leaves it silently.
    io.warn(new FeatError(error.code, `Exported "${id}" as an "error" line: ${error.message}`, { key: id, cause: error }));
    line.error = { code: error.code, message: error.message };
  }
  // A default (stamped 0, store.ts AS_OF: a redux slice's initial state) stays one: an import writes it as a default.
  if (d.updatedAt > 0 || doc.feat?.updatedAt === 0) line.updatedAt = d.updatedAt;
  if (d.expiresAt !== undefined) line.expiresAt = d.expiresAt;
  // (A value another app nested deeper than JSON.stringify reaches is written all the same: util/json.ts.)
  return stringify(line);
}

/**
 * The current document of a key with conflicting leaves on the server, read as `get()` reads it: the store's read
 * resolves them through the resolver (store.ts `#read`; a resolution that fails goes to the `error` event and leaves the
 * current winner, which `get()` then returns). Then read again for the line's times.
 */
async function resolvedDoc(io: ClientIo, db: Db, id: string): Promise<StoredDoc | undefined> {
  // (An id get() refuses, another app's: its winner as it is.)
  await io.store.get(id).catch((error: unknown) => {
    if (!(error instanceof FeatValidationError)) throw error;
  });
  const row = (await allDocs(db, { keys: [id], include_docs: true }, io.local)).rows[0];
  return row?.value?.deleted ? undefined : (row?.doc ?? undefined);
}

/** The export, one line at a time (without line breaks): the header first. Memory stays bounded by a page. */
export async function* exportLines(io: ClientIo, options?: ExportOptions): AsyncGenerator<string, void, undefined> {
  const { onProgress, signal } = checkOptions(options, 'exportLines');
  const report = progress(onProgress, io.warn);
  throwIfAborted(signal);
  const session = await withSignal(io.session(), signal);
  const db = await withSignal(io.db(), signal);
  const exportedAt = Date.now();

  // Pass 1: which keys, and about how big each is (to size the pages of pass 2).
  const ids: string[] = [];
  const sizes: number[] = [];
  let parts = 0;
  let scanned = 0;
  let total: number | undefined;
  // The database's count when the scan starts: `total` stays as it is for the whole phase, even while writes go on.
  for await (const page of userDocPages(db, { limit: SCAN_PAGE, signal, total: (n) => (total ??= n), replica: io.local })) {
    for (const { id, doc } of page) {
      scanned++;
      if (!exported(doc, exportedAt)) continue;
      ids.push(id);
      // Chunked values are read on their own page.
      sizes.push(doc.feat?.chunks ? EXPORT_PAGE_BYTES : isUnheld(doc) ? 0 : stringify(doc.doc).length);
      if (parsePartId(id)) parts++;
    }
    total ??= scanned;
    report('scan', Math.min(scanned, total), total);
  }
  total ??= scanned;
  report('scan', Math.min(scanned, total), total);

  const header: ExportHeader = {
    format: FORMAT,
    version: VERSION,
    userName: session.userName,
    dbName: session.dbName,
    exportedAt: new Date(exportedAt).toISOString(),
    counts: { keys: ids.length, parts },
  };
  report('export', 0, ids.length);
  yield JSON.stringify(header);

  // Pass 2: the current documents of those keys.
  let done = 0;
  for (let start = 0; start < ids.length; ) {
    let end = start;
    let bytes = 0;
    while (end < ids.length && end - start < EXPORT_PAGE && (end === start || bytes + sizes[end]! <= EXPORT_PAGE_BYTES)) {
      bytes += sizes[end]!;
      end++;
    }
    throwIfAborted(signal);
    const keys = ids.slice(start, end);
    // On the server, with the ids of conflicting leaves: such a document is read resolved, as get() reads it. (On the
    // replica get() reads the winning leaf as it is; replication resolves leaves there.)
    const page = await withSignal(allDocs(db, { keys, include_docs: true, ...(io.local ? {} : { conflicts: true }) }, io.local), signal);
    const lines: string[] = [];
    for (const [i, row] of page.rows.entries()) {
      throwIfAborted(signal);
      let doc = row.value?.deleted ? undefined : row.doc;
      if (doc?._conflicts?.length) doc = await withSignal(resolvedDoc(io, db, keys[i]!), signal);
      lines.push(await lineOf(io, db, keys[i]!, doc, exportedAt));
    }
    for (const line of lines) {
      yield line;
      report('export', ++done, ids.length);
    }
    start = end;
  }
  if (done !== ids.length) throw new FeatError('bad_response', `The export produced ${done} of ${ids.length} lines`);
}

/** The whole export as one NDJSON string (the header line, then one line per key; each line ends with `\n`). */
export async function exportData(io: ClientIo, options?: ExportOptions): Promise<string> {
  const lines: string[] = [];
  for await (const line of exportLines(io, options)) lines.push(line);
  lines.push('');
  return lines.join('\n');
}
