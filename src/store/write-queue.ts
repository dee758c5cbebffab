interface Entry<Op> {
  op: Op;
  resolve: () => void;
  reject: (error: unknown) => void;
  /** Settles with the write that carries this entry's op (or a later one that superseded it). */
  settled: Promise<void>;
}

/** Writes a batch; returns one result per item, `undefined` for success or the error of that item. */
export type BatchWriter<Op> = (batch: { id: string; op: Op }[]) => Promise<(unknown | undefined)[]>;

export interface WriteQueueOptions {
  /** Most documents in one batch. */
  maxBatch: number;
  /** Most batches in flight at once (never two for the same id). */
  maxConcurrent: number;
  /** Called when `size` may have changed (an id was queued, a batch settled). */
  changed?: (() => void) | undefined;
}

/**
 * Per-id write coalescing: at most one write per id in flight; a newer op for an id replaces its pending one, and
 * every caller's promise settles with the write that carried its value or a later one. Pending ops of different ids
 * are written together in batches.
 */
export class WriteQueue<Op> {
  #pending = new Map<string, Entry<Op>>();
  #inFlight = new Map<string, Entry<Op>>();
  #running = 0;
  #scheduled = false;
  #write: BatchWriter<Op>;
  #options: WriteQueueOptions;

  constructor(write: BatchWriter<Op>, options: WriteQueueOptions) {
    this.#write = write;
    this.#options = options;
  }

  enqueue(id: string, op: Op): Promise<void> {
    const existing = this.#pending.get(id);
    if (existing) {
      existing.op = op;
      return existing.settled;
    }
    let resolve!: () => void;
    let reject!: (error: unknown) => void;
    const settled = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Callers may drop their promise; flush() reports failures instead of an unhandled rejection here.
    settled.catch(() => undefined);
    this.#pending.set(id, { op, resolve, reject, settled });
    this.#schedule();
    this.#options.changed?.();
    return settled;
  }

  /** The newest op for an id that is not yet known to be written. */
  peek(id: string): Op | undefined {
    return (this.#pending.get(id) ?? this.#inFlight.get(id))?.op;
  }

  /**
   * The newest op of every id under `prefix` not yet known to be written. Readers take it before they read: a write
   * that becomes durable while the read is on its way leaves the queue, and the read may not have seen it.
   */
  pendingUnder(prefix: string): [id: string, op: Op][] {
    if (this.#pending.size === 0 && this.#inFlight.size === 0) return [];
    const found = new Map<string, Op>();
    // An id both in flight and pending: the pending op is the newer one.
    for (const map of [this.#inFlight, this.#pending]) {
      for (const [id, entry] of map) if (id.startsWith(prefix)) found.set(id, entry.op);
    }
    return [...found];
  }

  /** Settles when the write of `id` that is on its way now (if any) has its answer. */
  inFlight(id: string): Promise<void> | undefined {
    return this.#inFlight.get(id)?.settled;
  }

  /** Ids with a pending or in-flight op. */
  ids(): IterableIterator<string> {
    return new Set([...this.#pending.keys(), ...this.#inFlight.keys()]).values();
  }

  /** How many ids have a write that is not yet durable. */
  get size(): number {
    let n = this.#pending.size;
    for (const id of this.#inFlight.keys()) if (!this.#pending.has(id)) n++;
    return n;
  }

  /** Resolves when every op enqueued before the call is written; rejects with the first failure, once all settled. */
  async flush(): Promise<void> {
    const waits = [...this.#pending.values(), ...this.#inFlight.values()].map((e) => e.settled);
    // Wait for every write, even after one failed; then report the first failure.
    const results = await Promise.allSettled(waits);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      this.#drain();
    });
  }

  #drain(): void {
    while (this.#running < this.#options.maxConcurrent) {
      const batch: { id: string; entry: Entry<Op> }[] = [];
      for (const [id, entry] of this.#pending) {
        if (this.#inFlight.has(id)) continue;
        batch.push({ id, entry });
        if (batch.length >= this.#options.maxBatch) break;
      }
      if (batch.length === 0) return;
      for (const { id, entry } of batch) {
        this.#pending.delete(id);
        this.#inFlight.set(id, entry);
      }
      this.#running++;
      const settleAll = (results: (unknown | undefined)[] | undefined, failure?: unknown) => {
        batch.forEach(({ id, entry }, i) => {
          this.#inFlight.delete(id);
          const error = results ? results[i] : failure;
          if (error === undefined) entry.resolve();
          else entry.reject(error);
        });
        this.#running--;
        if (this.#pending.size > 0) this.#drain();
        this.#options.changed?.();
      };
      this.#write(batch.map(({ id, entry }) => ({ id, op: entry.op }))).then(
        (results) => settleAll(results),
        (error: unknown) => settleAll(undefined, error ?? new Error('write failed')),
      );
    }
  }
}
