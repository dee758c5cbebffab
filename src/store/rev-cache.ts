/** What the store last knew of a document: its revision and a hash of the content at that revision. */
export interface Known {
  rev: string;
  hash?: string | undefined;
  /**
   * When this client learned of the revision (its own clock, ms); 0 for a revision it wrote itself. A write made
   * before that did not see the revision, so it must not go blindly on top of it.
   */
  seen: number;
}

/** The last known revision per document id, bounded (least recently used ids are forgotten first). */
export class RevCache {
  #max: number;
  #known = new Map<string, Known>();

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

  rev(id: string): string | undefined {
    return this.get(id)?.rev;
  }

  /** Records a revision this client wrote (`seen` 0) or learned of at `seen`. */
  set(id: string, rev: string | undefined, hash?: string, seen = 0): void {
    this.#known.delete(id);
    if (rev === undefined) return;
    this.#known.set(id, { rev, hash, seen });
    if (this.#known.size > this.#max) {
      const oldest = this.#known.keys().next().value;
      if (oldest !== undefined) this.#known.delete(oldest);
    }
  }

  /** Records a revision read from the database: what was known of the same revision (hash, when seen) is kept. */
  learn(id: string, rev: string, hash?: string, now = Date.now()): void {
    const known = this.#known.get(id);
    const same = known?.rev === rev;
    this.set(id, rev, hash ?? (same ? known?.hash : undefined), same ? known!.seen : now);
  }

  delete(id: string): void {
    this.#known.delete(id);
  }

  get size(): number {
    return this.#known.size;
  }
}
