/** What the store last knew of a document: its revision and a hash of the content at that revision. */
export interface Known {
  rev: string;
  hash?: string | undefined;
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

  set(id: string, rev: string | undefined, hash?: string): void {
    this.#known.delete(id);
    if (rev === undefined) return;
    this.#known.set(id, { rev, hash });
    if (this.#known.size > this.#max) {
      const oldest = this.#known.keys().next().value;
      if (oldest !== undefined) this.#known.delete(oldest);
    }
  }

  delete(id: string): void {
    this.#known.delete(id);
  }

  get size(): number {
    return this.#known.size;
  }
}
