import type { StoredDoc, WriteOp } from './codec.js';
import type { AllDocsRow, Db } from './db.js';
import type { RevCache } from './rev-cache.js';
import type { StoreContext } from './store.js';
import type { WriteQueue } from './write-queue.js';

/** What the modules loaded on demand (parts, conflict resolution) use of the store. */
export interface StoreIO {
  ctx: StoreContext;
  db(): Promise<Db>;
  allDocs(db: Db, options: Record<string, unknown>, key?: string): Promise<{ rows: AllDocsRow[] }>;
  /** The current version of a document; `undefined` when absent or deleted. Records its revision as seen from `seen`. */
  read(db: Db, id: string, seen?: number, settle?: boolean, signal?: AbortSignal, byResolver?: boolean): Promise<StoredDoc | undefined>;
  /** `now`: when a `ttl` is read as expired (an export reads its values as of when it started). */
  valueOf(db: Db, doc: StoredDoc, now?: number): Promise<unknown>;
  chunkIfLarge(db: Db, id: string, op: WriteOp): Promise<string[] | undefined>;
  /** Records a revision this client wrote; `seen` as in `Known` (0: the app's own value). */
  stored(id: string, rev: string, op: WriteOp, seen?: number): void;
  queue(): WriteQueue<WriteOp>;
  known(): RevCache;
  hashOf(op: WriteOp): string;
  /** True when `raw` is this client's own write whose answer was lost (store.ts `#unanswered`). */
  unanswered(id: string, raw: StoredDoc): boolean;
}
