import { remember } from '../util/remember.js';

/** What the store last knew of a document: its revision and a hash of the content at that revision. */
export interface Known {
  rev: string;
  hash?: string | undefined;
  /**
   * From which write on the app could have seen this revision (a {@link tick} value): 0 for a revision this client
   * wrote with the app's own value, the tick of the app's read for one it read, `Infinity` for one only the SDK saw
   * (read while resolving a conflict, or a resolver's merge). A write made before that did not see it, so it must not
   * go blindly on top of it: it asks the resolver.
   */
  seen: number;
  /** The revision is a deletion (a tombstone). CouchDB refuses a write that names it: see `revToSend`. */
  deleted?: boolean;
}

let clock = 0;
/** A logical clock: orders the app's calls and reads within the process (wall-clock time can repeat or go back). */
export const tick = (): number => ++clock;

/** The last known revision per document id, bounded (least recently used ids are forgotten first). */
export class RevCache {
  #max: number;
  #known = new Map<string, Known>();
  /** Ids the app read as absent (no revision to record), with the tick of that read; bounded like the revisions. */
  #absent = new Map<string, number>();

  constructor(max: number) {
    this.#max = max;
  }

  get(id: string): Known | undefined {
    const known = this.#known.get(id);
    if (known !== undefined) {
      this.#known.delete(id);
      this.#known.set(id, known);
    }
    return known;
  }

  /** The known revision, without marking the id as recently used (a look, not a use). */
  rev(id: string): string | undefined {
    return this.#known.get(id)?.rev;
  }

  /** Records a revision this client wrote (`seen` 0: the app's own value) or learned of. */
  set(id: string, rev: string | undefined, hash?: string, seen = 0, deleted = false): void {
    this.#known.delete(id);
    this.#absent.delete(id);
    if (rev === undefined) return;
    remember(this.#known, id, deleted ? { rev, hash, seen, deleted } : { rev, hash, seen }, this.#max);
  }

  /**
   * Records a revision read from the database, seen by the app from `seen` on (`Infinity`: not by the app). For the
   * revision already known, what was known is kept and the earliest sighting counts.
   */
  learn(id: string, rev: string, seen: number, hash?: string, deleted = false): void {
    const known = this.#known.get(id);
    if (known?.rev === rev) this.set(id, rev, hash ?? known.hash, Math.min(known.seen, seen), deleted);
    else this.set(id, rev, hash, seen, deleted);
  }

  delete(id: string): void {
    this.#known.delete(id);
    this.#absent.delete(id);
  }

  /**
   * Records that the app read `id` as absent at `seen` (a {@link tick} value) while no revision of it was known. A
   * revision found later under a write made after that read is one the app did not see (see look-up.ts).
   */
  readAbsent(id: string, seen: number): void {
    if (this.#known.has(id)) return;
    remember(this.#absent, id, seen, this.#max);
  }

  /** The tick of the app's last read of `id` as absent, while no revision of it is known. */
  absentSince(id: string): number | undefined {
    return this.#absent.get(id);
  }

  get size(): number {
    return this.#known.size;
  }
}
