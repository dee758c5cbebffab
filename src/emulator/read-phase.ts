/**
 * A `_changes` read of one moment of the database, as CouchDB's (it folds over a snapshot of its by-sequence index):
 * a document updated while the read runs is listed once, never left out. PouchDB's adapters read the by-sequence rows
 * up to where they started, and skip a row whose document has moved on since: a document updated during the read was
 * in neither place (measured: 6 of 8 reads of 1,500 documents left out the one written meanwhile; CouchDB 0 of 24).
 * A new device's first pull reads everything once before the app reads its state, so the app read the key as absent.
 *
 * Here a database's writes and its feeds' reads take turns: writes wait for the reads under way when they came, reads
 * for the writes under way or waiting (first come, first served; reads run together, writes run together).
 */
type Kind = 'read' | 'write';

export class ReadPhase {
  #kind: Kind | undefined;
  #running = 0;
  readonly #queue: { kind: Kind; go: () => void }[] = [];

  async run<T>(kind: Kind, work: () => Promise<T>): Promise<T> {
    if (this.#queue.length === 0 && (this.#running === 0 || this.#kind === kind)) {
      this.#kind = kind;
      this.#running += 1;
    } else {
      // #next counts it in before it runs.
      await new Promise<void>((go) => this.#queue.push({ kind, go }));
    }
    try {
      return await work();
    } finally {
      this.#running -= 1;
      if (this.#running === 0) this.#next();
    }
  }

  #next(): void {
    const first = this.#queue[0];
    this.#kind = first?.kind;
    while (this.#queue[0] !== undefined && this.#queue[0].kind === this.#kind) {
      this.#running += 1;
      this.#queue.shift()!.go();
    }
  }
}

const phases = new WeakMap<object, ReadPhase>();

type BulkDocs = (req: unknown, opts: unknown, callback: (err: unknown, res?: unknown) => void) => void;

/** Makes `db`'s writes (every one goes through the adapter's `_bulkDocs`) take turns with reads of `phase`. */
export function takeTurns(db: object, phase: ReadPhase): void {
  if (phases.has(db)) return;
  phases.set(db, phase);
  const handle = db as unknown as { _bulkDocs: BulkDocs };
  const write = handle._bulkDocs.bind(db);
  handle._bulkDocs = (req, opts, callback) => {
    void phase
      .run('write', () => new Promise<[unknown, unknown]>((done) => write(req, opts, (err, res) => done([err, res]))))
      .then(([err, res]) => callback(err, res));
  };
}

/** Runs a read of `db`'s changes while none of its writes runs (at once for a database not set up by takeTurns). */
export function readConsistently<T>(db: object, read: () => Promise<T>): Promise<T> {
  const phase = phases.get(db);
  return phase ? phase.run('read', read) : read();
}
