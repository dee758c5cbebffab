/** Public types of `client.exportData` / `client.exportLines` / `client.importData` (type-only: no runtime code). */
import type { FeatErrorCode } from '../errors.js';

/**
 * Where an export or an import is.
 * - export: `'scan'` (finding the live keys; `total` is the database's document count, an upper bound), then
 *   `'export'` (one line per key; `total` is the exact number of key lines).
 * - import: `'validate'` (every line checked before anything is written; strings and Blobs only), then `'write'`.
 *
 * Within a phase `total` does not change and `done` never decreases; phases come in the order above.
 */
export interface ProgressEvent {
  phase: 'scan' | 'export' | 'validate' | 'write';
  done: number;
  total: number;
}

export interface ExportOptions {
  /**
   * `'text'`: `exportData` resolves with the whole NDJSON text. `'lines'`: it resolves with an async iterable of the
   * lines (without line breaks), read a page at a time — for writing big exports to a file or a stream.
   * @default 'text'
   */
  format?: 'text' | 'lines' | undefined;
  /** Called as the export advances (synchronously; keep it cheap). */
  onProgress?: ((event: ProgressEvent) => void) | undefined;
  /** Aborts the export with an `aborted` error. */
  signal?: AbortSignal | undefined;
}

export interface ImportOptions {
  /** Called as the import advances (synchronously; keep it cheap). */
  onProgress?: ((event: ProgressEvent) => void) | undefined;
  /**
   * Aborts the import with an `aborted` error. Before the first write nothing is written; once writing started, the
   * error's message says how many keys were written (see docs/export.md).
   */
  signal?: AbortSignal | undefined;
}

/**
 * What `importData` reads: the whole NDJSON text, a Blob of it, or an iterable / async iterable of its lines
 * (e.g. `readline`; an item holding several lines is split at `\n`).
 */
export type ImportSource = string | Blob | Iterable<string> | AsyncIterable<string>;

export interface ImportResult {
  /** Keys written. */
  imported: number;
  /**
   * Key lines not written: values that expired since the export, keys deleted while the export ran, keys whose value
   * the export could not read (`error` lines), and defaults (`updatedAt: 0`) for keys that hold a value.
   */
  skipped: number;
}

/** The first line of an export. */
export interface ExportHeader {
  format: 'feat-export';
  version: 1;
  userName: string;
  dbName: string;
  /** ISO 8601 time the export started; a value is exported when it had not expired at that time. */
  exportedAt: string;
  counts: {
    /** Lines after the header (one per key, `key:subkey` parts included). */
    keys: number;
    /** How many of them are `key:subkey` parts. */
    parts: number;
  };
}

/** Every line after the header. */
export interface ExportLine {
  key: string;
  /** The value (absent only on a `deleted` line). */
  value?: unknown;
  /**
   * When the value was written, ms since the epoch (informational: an import writes at import time). `0`: a default
   * (a redux slice's initial state), which an import writes only where the key holds no value, as a default again.
   */
  updatedAt?: number;
  /** When the value expires, ms since the epoch; an import keeps this expiry time. */
  expiresAt?: number;
  /** The key was deleted while the export ran (rare); an import skips it. */
  deleted?: true;
  /**
   * The key's value could not be read (another app's or a damaged document: a chunked value whose chunks are missing
   * or do not form JSON); its line has no value, and an import skips it. The failure also went to the exporting
   * client's `error` event.
   */
  error?: { code: FeatErrorCode; message: string };
}
