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

/**
 * What replication needs beyond `Db` (both PouchDB databases have it; a remote `Db` used for live sync must too):
 * which revisions are missing (`_revs_diff`), and documents with their revision history (`_bulk_get`, `revs: true`).
 */
export interface ReplicaDb extends Db {
  revsDiff(diff: Record<string, string[]>): Promise<Record<string, { missing?: string[] }>>;
  bulkGet(options: { docs: { id: string; rev: string }[]; revs: boolean; attachments?: boolean }): Promise<{ results: BulkGetResult[] }>;
}

export interface BulkGetResult {
  id: string;
  docs: ({ ok: StoredDoc & { _revisions?: { start: number; ids: string[] } } } | { error: unknown })[];
}

export interface Change {
  id: string;
  seq: number | string;
  changes: { rev: string }[];
  doc?: StoredDoc;
  deleted?: boolean;
}

export interface ChangesFeed extends PromiseLike<unknown> {
  /** `pending`: how many changes the server has after this one (CouchDB ≥ 2's `pending`), when known. */
  on(event: 'change', listener: (change: Change, pending?: unknown) => void): ChangesFeed;
  on(event: 'error', listener: (error: unknown) => void): ChangesFeed;
  on(event: 'complete', listener: (info: unknown) => void): ChangesFeed;
  /** The server's database only: a page's answer has begun to arrive (its body may still take long). */
  on(event: 'answered', listener: () => void): ChangesFeed;
  cancel(): void;
}
