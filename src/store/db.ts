import type { StoredDoc } from './codec.js';

/** What the store needs of a PouchDB database (the local replica, or the server's through the http adapter). */
export interface AllDocsRow {
  id: string;
  key: string;
  value: { rev: string; deleted?: boolean };
  doc?: StoredDoc | null;
  error?: string;
}

export interface BulkResult {
  ok?: boolean;
  id?: string;
  rev?: string;
  error?: unknown;
  status?: number;
  name?: string;
  message?: string;
}

export interface Db {
  get(id: string, options?: Record<string, unknown>): Promise<StoredDoc>;
  put(doc: StoredDoc, options?: Record<string, unknown>): Promise<{ ok: boolean; id: string; rev: string }>;
  bulkDocs(docs: StoredDoc[], options?: Record<string, unknown>): Promise<BulkResult[]>;
  allDocs(options: Record<string, unknown>): Promise<{ rows: AllDocsRow[]; total_rows?: number }>;
  changes(options: Record<string, unknown>): ChangesFeed;
  info(): Promise<Record<string, unknown>>;
  close(): Promise<void>;
  destroy(): Promise<void>;
}

export interface Change {
  id: string;
  seq: number | string;
  changes: { rev: string }[];
  doc?: StoredDoc;
  deleted?: boolean;
}

export interface ChangesFeed extends PromiseLike<unknown> {
  on(event: 'change', listener: (change: Change) => void): ChangesFeed;
  on(event: 'error', listener: (error: unknown) => void): ChangesFeed;
  on(event: 'complete', listener: (info: unknown) => void): ChangesFeed;
  cancel(): void;
}
