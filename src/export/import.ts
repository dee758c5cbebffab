/**
 * Import: an export's NDJSON restored into the current account through the store (so big values are chunked and
 * writes are batched like any other). Every line is validated before it is written:
 *
 * - a string or a Blob is read twice: pass 1 validates every line (and the header's count), pass 2 writes — malformed
 *   input writes nothing;
 * - an (async) iterable can be read once only: each page of lines is validated before that page is written, so a bad
 *   line later in the stream stops the import after the pages before it (the error says how many keys were written).
 *
 * Writes go a page at a time (bounded by count and bytes) and each page is awaited, so memory holds one page.
 */
import { abortError, endedBy, FeatError, FeatValidationError, readable, toFeatError } from '../errors.js';
import { sameJson } from '../store/codec.js';
import { AS_OF, type SetOptions } from '../store/store.js';
import { snapshotValue, validateKey } from '../store/validate.js';
import { anySignal, throwIfAborted, within, withSignal } from '../util/abort.js';
import { limiter } from '../util/limit.js';
import { checkOptions, FORMAT, progress, VERSION } from './export.js';
import type { ClientIo } from './io.js';
import type { ExportHeader, ImportResult, ImportSource } from './types.js';

const WRITE_PAGE = 100;
const WRITE_PAGE_BYTES = 4 * 1024 * 1024;
/** Default lines handled at once (each makes its requests one after the other; a page may hold 100 defaults). */
const DEFAULTS_AT_ONCE = 6;
/** How long a source's `return()` is waited for when the import stops early without an abort (it may hang). */
const SOURCE_RETURN_WAIT_MS = 1_000;

interface Entry {
  line: number;
  key: string;
  value: unknown;
  expiresAt: number | undefined;
  /** The line's `updatedAt` is 0: a default (store.ts AS_OF), which any value stored in the account wins over. */
  asDefault: boolean;
  deleted: boolean;
  /** An `error` line: the export could not read the key's value (export.ts `lineOf`); skipped. */
  unreadable: boolean;
  bytes: number;
}

const bad = (line: number, message: string) => new FeatValidationError('invalid_argument', `Import input, line ${line}: ${message}`);

/** Lines of a string, without copying it into an array; a final line break ends the last line. */
function* stringLines(text: string): Generator<string> {
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    yield text.slice(start, end);
    start = end + 1;
  }
}

/** Lines of a Blob, decoded as UTF-8 a chunk at a time; an abort ends a read at once (the stream is cancelled). */
async function* blobLines(blob: Blob, signal: AbortSignal | undefined): AsyncGenerator<string> {
  const reader = blob.stream().getReader();
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let carry = '';
  let line = 0;
  try {
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await withSignal(reader.read(), signal);
      } catch (error) {
        reader.cancel().catch(() => undefined);
        throw error;
      }
      const { done, value } = chunk;
      try {
        carry += done ? decoder.decode() : decoder.decode(value, { stream: true });
      } catch {
        // Bytes that are not UTF-8: the line is counted up to the first character they decode to leniently.
        const loose = carry + new TextDecoder().decode(value);
        const at = Math.max(0, loose.indexOf('\uFFFD'));
        throw bad(line + 1 + (loose.slice(0, at).match(/\n/g)?.length ?? 0), 'bytes that are not UTF-8 (an export file is UTF-8 text)');
      }
      let nl: number;
      while ((nl = carry.indexOf('\n')) !== -1) {
        line++;
        yield carry.slice(0, nl);
        carry = carry.slice(nl + 1);
      }
      if (done) break;
    }
    if (carry !== '') yield carry;
  } finally {
    try {
      reader.releaseLock();
    } catch {
      // a read still pending (older runtimes refuse to release then): the stream was cancelled
    }
  }
}

/**
 * Items of an iterable, each `next()` raced against the import's signal: a source that stops yielding (a stalled stream)
 * does not hold an abort up. How its failure is reported:
 * - the import's signal is aborted: `aborted`, whatever the source threw (a fetch body read with the same signal fails
 *   with its AbortError);
 * - a FeatError (one client's `exportData({ format: 'lines' })` piped into another's import: `network`, `timeout`, …):
 *   rethrown, its code kept;
 * - anything else is the app's source failing (a file read, a stream), neither the input's content nor a server's
 *   answer: `invalid_argument`, with its error as the cause.
 * The source is closed (`return()`) when the import stops before its end; after an abort that is not waited for (a
 * stalled async generator's `return()` waits for the `next()` in progress, forever), otherwise for at most a second.
 */
async function* items(source: Iterable<string> | AsyncIterable<string>, signal: AbortSignal | undefined): AsyncGenerator<unknown> {
  const iterable: AsyncIterable<unknown> =
    Symbol.asyncIterator in source
      ? source
      : (async function* () {
          yield* source;
        })();
  let iterator: AsyncIterator<unknown>;
  let running = true;
  try {
    iterator = iterable[Symbol.asyncIterator]();
  } catch (error) {
    throw sourceFailure(error, signal);
  }
  try {
    for (;;) {
      let result: IteratorResult<unknown>;
      try {
        let next: Promise<IteratorResult<unknown>>;
        try {
          next = Promise.resolve(iterator.next());
        } catch (error) {
          next = Promise.reject(error as Error);
        }
        result = await withSignal(next, signal);
      } catch (error) {
        // A source that threw is done; one that an abort left stalled still runs: it is told to stop below.
        running = signal?.aborted === true;
        throw sourceFailure(error, signal);
      }
      if (result.done) {
        running = false;
        return;
      }
      yield result.value;
    }
  } finally {
    if (running && typeof iterator.return === 'function') {
      const closing = Promise.resolve()
        .then(() => iterator.return!())
        .catch(() => undefined);
      if (!signal?.aborted) await within(closing, SOURCE_RETURN_WAIT_MS);
    }
  }
}

/** The FeatErrors an import source threw (rethrown as they are): their message says the source failed. */
const fromSource = new WeakSet<FeatError>();

function sourceFailure(error: unknown, signal: AbortSignal | undefined): FeatError {
  if (signal?.aborted) return abortError(signal);
  if (error instanceof FeatError) {
    fromSource.add(error);
    return error;
  }
  const reason = error instanceof Error ? error.message : String(error);
  return new FeatValidationError('invalid_argument', `The import source failed: ${reason}`, { cause: error });
}

/** Items of an iterable of lines; an item holding several lines is split. */
async function* iterableLines(source: Iterable<string> | AsyncIterable<string>, signal: AbortSignal | undefined): AsyncGenerator<string> {
  let n = 0;
  for await (const item of items(source, signal)) {
    n++;
    if (typeof item !== 'string') throw bad(n, `the iterable yielded ${item === null ? 'null' : typeof item}, not a string`);
    const text = item.endsWith('\n') ? item.slice(0, -1) : item;
    if (text.includes('\n')) yield* stringLines(text);
    else yield text;
  }
}

function parseJson(text: string, line: number, what: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw bad(line, `${what} is not valid JSON (${(error as Error).message}); the input may be truncated or not an export`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw bad(line, `${what} must be a JSON object`);
  return parsed as Record<string, unknown>;
}

function parseHeader(text: string | undefined): ExportHeader {
  if (text === undefined || text.trim() === '') throw bad(1, 'the input is empty; expected the export header');
  const h = parseJson(text.replace(/^\uFEFF/, ''), 1, 'the header');
  if (h.format !== FORMAT) throw bad(1, `not a feat export (the header's "format" is ${JSON.stringify(h.format)}, expected "${FORMAT}")`);
  if (h.version !== VERSION) throw bad(1, `unsupported export version ${JSON.stringify(h.version)} (this SDK reads version ${VERSION})`);
  const counts = h.counts as Record<string, unknown> | undefined;
  const keys = counts?.keys;
  if (typeof keys !== 'number' || !Number.isInteger(keys) || keys < 0) throw bad(1, 'the header\'s "counts.keys" must be an integer ≥ 0');
  return h as unknown as ExportHeader;
}

const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

function parseEntry(text: string, line: number): Entry {
  const o = parseJson(text, line, 'the line');
  const key = o.key;
  try {
    validateKey(key);
  } catch (error) {
    throw bad(line, (error as Error).message);
  }
  if (o.deleted !== undefined && o.deleted !== true) throw bad(line, '"deleted" must be true when present');
  const deleted = o.deleted === true;
  const unreadable = o.error !== undefined;
  // An export's line for a value it could not read: `{ key, error: { code, message } }`, no value — anything else
  // carrying `error` is not one (a value beside it is never dropped silently).
  if (unreadable && (deleted || 'value' in o || typeof o.error !== 'object' || o.error === null || typeof (o.error as { code?: unknown }).code !== 'string')) {
    throw bad(line, `"error" is for a value the export could not read: { "code", "message" } and no "value"`);
  }
  // A key the export found deleted: `{ key, deleted: true }` — a value beside it is not dropped silently either.
  if (deleted && 'value' in o) throw bad(line, `"deleted" is for a key the export found deleted, with no "value"`);
  if (!deleted && !unreadable && !('value' in o)) throw bad(line, `the line of "${key}" has no "value"`);
  if (o.updatedAt !== undefined && !isTime(o.updatedAt)) throw bad(line, '"updatedAt" must be a time in ms');
  if (o.expiresAt !== undefined && !isTime(o.expiresAt)) throw bad(line, '"expiresAt" must be a time in ms');
  let value: unknown;
  if (!deleted && !unreadable) {
    try {
      value = snapshotValue(o.value, key);
    } catch (error) {
      throw bad(line, (error as Error).message);
    }
  }
  return { line, key, value, expiresAt: o.expiresAt as number | undefined, asDefault: o.updatedAt === 0, deleted, unreadable, bytes: text.length };
}

/** Parses and validates the input, a page at a time; checks the count against the header at the end. */
async function* pages(lines: AsyncIterable<string> | Iterable<string>, signal: AbortSignal | undefined, onHeader: (h: ExportHeader) => void) {
  const seen = new Set<string>();
  let header: ExportHeader | undefined;
  let n = 0;
  let count = 0;
  let page: Entry[] = [];
  let bytes = 0;
  for await (const raw of lines) {
    n++;
    const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (!header) {
      header = parseHeader(text);
      onHeader(header);
      continue;
    }
    if (text.trim() === '') continue;
    if (n % 64 === 0) throwIfAborted(signal);
    const entry = parseEntry(text, n);
    if (seen.has(entry.key)) throw bad(n, `the key "${entry.key}" appears twice`);
    seen.add(entry.key);
    if (++count > header.counts.keys) throw bad(n, `more key lines than the ${header.counts.keys} the header announces`);
    page.push(entry);
    bytes += entry.bytes;
    if (page.length >= WRITE_PAGE || bytes >= WRITE_PAGE_BYTES) {
      yield page;
      page = [];
      bytes = 0;
    }
  }
  if (!header) throw bad(1, 'the input is empty; expected the export header');
  if (count < header.counts.keys) {
    throw bad(n + 1, `the input ends after ${count} of the ${header.counts.keys} keys the header announces (truncated?)`);
  }
  if (page.length > 0) yield page;
}

/** Restores an export into the current account. */
export async function importData(io: ClientIo, data: ImportSource, options?: unknown, lifetime?: AbortSignal): Promise<ImportResult> {
  const { onProgress, signal: own } = checkOptions(options, 'importData');
  const report = progress(onProgress, io.warn);
  // The client's close() ends the import as its own signal does (a source that stalls is not waited for): `closed`.
  const ended = anySignal([own, lifetime]);
  try {
    return await importFrom(io, data, report, ended.signal, lifetime);
  } finally {
    ended.dispose();
  }
}

async function importFrom(io: ClientIo, data: ImportSource, report: ReturnType<typeof progress>, signal: AbortSignal, lifetime: AbortSignal | undefined): Promise<ImportResult> {
  // A getter or a Proxy trap of `data` that throws: invalid_argument, before anything is read or written.
  const [open, rereadable] = readable((): [() => AsyncIterable<string> | Iterable<string>, boolean] => {
    if (typeof data === 'string') return [() => stringLines(data), true];
    if (typeof Blob !== 'undefined' && data instanceof Blob) return [() => blobLines(data, signal), true];
    if (data !== null && typeof data === 'object' && (Symbol.asyncIterator in data || Symbol.iterator in data)) return [() => iterableLines(data, signal), false];
    throw new FeatValidationError('invalid_argument', 'importData() takes a string, a Blob or an (async) iterable of lines');
  }, 'The data of importData()');
  throwIfAborted(signal);
  let total = 0;
  const defaults = limiter(DEFAULTS_AT_ONCE);

  let imported = 0;
  let skipped = 0;
  let processed = 0;
  /** Writes of the page in flight when an abort ended the wait for them: not confirmed, they may still land. */
  let inFlight = 0;
  const stopped = (failure: FeatError, what: string, cause: unknown = failure): FeatError => {
    let written = imported === 0 ? 'nothing was written' : `${imported} key(s) were written before it`;
    if (inFlight > 0) written += `, ${inFlight} more were being written and may still land`;
    return new FeatError(failure.code, `${what}; ${written} (running the same import again is safe)`, { cause, ...(failure.key ? { key: failure.key } : {}) });
  };
  try {
    // Pass 1 (strings and Blobs): validate everything before the first write.
    if (rereadable) {
      let done = 0;
      for await (const page of pages(open(), signal, (h) => report('validate', 0, (total = h.counts.keys)))) {
        done += page.length;
        report('validate', done, total);
        throwIfAborted(signal);
      }
    }
    // Pass 2: write, a page at a time.
    await withSignal(io.db(), signal);
    for await (const page of pages(open(), signal, (h) => report('write', 0, (total = h.counts.keys)))) {
      throwIfAborted(signal);
      const now = Date.now();
      const writes: Promise<boolean>[] = [];
      for (const e of page) {
        if (e.deleted || e.unreadable || (e.expiresAt !== undefined && e.expiresAt <= now)) {
          skipped++;
          continue;
        }
        if (!e.asDefault) {
          // (The exported expiry kept as it is: stamped `now`, AS_OF, its ttl counts from then, not from the write.)
          const options = e.expiresAt === undefined ? undefined : ({ [AS_OF]: now, ttl: e.expiresAt - now } as SetOptions);
          writes.push(io.store.set(e.key, e.value, options).then(() => true));
          continue;
        }
        // A default (updatedAt 0) stays one: written only where the key holds no value (a deletion does not count),
        // stamped 0 (store.ts AS_OF), so a value stored meanwhile, or by another device, wins over it (resolve-write.ts).
        // (Its expiry is kept: `ttl` counts from the stamp.) set() resolves also when the resolution kept a value stored
        // between the read and the write: the key is read again, and the line counts as imported only when it then holds
        // the line's value. Each is a read, a write and a read (requests, in remote mode), made one after the other; a
        // few defaults are handled at once (their writes still batched together); those waiting do not start after an
        // abort.
        const options = { [AS_OF]: 0, ...(e.expiresAt === undefined ? {} : { ttl: e.expiresAt }) } as SetOptions;
        writes.push(
          defaults(async () => {
            throwIfAborted(signal);
            if ((await io.store.get(e.key)) !== undefined) return false;
            throwIfAborted(signal);
            await io.store.set(e.key, e.value, options);
            return sameJson(await io.store.get(e.key), e.value);
          }),
        );
      }
      // Each write is awaited before the next page, so what is reported written is written. An abort ends the wait at
      // once (a held or stalled server would keep it up to the request timeout): those writes are reported in flight.
      inFlight = writes.length;
      const results = await withSignal(Promise.allSettled(writes), signal);
      inFlight = 0;
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      for (const r of results) {
        if (r.status !== 'fulfilled') continue;
        if (r.value) imported++;
        else skipped++;
      }
      processed += page.length;
      if (failed) throw toFeatError(failed.reason);
      report('write', processed, total);
    }
  } catch (error) {
    if (lifetime?.aborted) throw stopped(endedBy(lifetime), 'The client was closed during the import');
    // Once the import's signal is aborted, whatever failed with it (a write, the source) was stopped by it: `aborted`.
    // (Its cause is the signal's reason, as for an import aborted before it began.)
    if (signal.aborted) throw stopped(abortError(signal), 'The import was aborted', signal.reason);
    const failure = toFeatError(error);
    if (failure instanceof FeatValidationError) {
      if (imported === 0) throw failure;
      // (The cause: the source's own error when it failed, else the validation error.)
      throw new FeatValidationError(failure.code, `${failure.message}; ${imported} key(s) from the lines before it were written`, { cause: failure.cause ?? failure });
    }
    throw stopped(failure, `${fromSource.has(failure) ? 'The import source failed' : 'The import stopped'}: ${failure.message}`);
  }
  return { imported, skipped };
}
