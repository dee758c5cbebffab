/**
 * Mango in memory (pouchdb-selector-core, loaded on first use): for values matched outside the query engine
 * (chunked values, live queries' changes) and their order.
 */
import { forEngine } from './engine.js';
import type { Selector } from './validate.js';

type SelectorCore = {
  matchesSelector(doc: unknown, selector: Selector): boolean;
  getFieldFromDoc(doc: unknown, parsedField: string[]): unknown;
  parseField(field: string): string[];
};
type Collate = { collate(a: unknown, b: unknown): number };

let core: Promise<[SelectorCore, Collate]> | undefined;
function load(): Promise<[SelectorCore, Collate]> {
  const def = <M>(m: unknown) => ((m as { default?: M }).default ?? m) as M;
  core ??= Promise.all([import('pouchdb-selector-core').then(def<SelectorCore>), import('pouchdb-collate').then(def<Collate>)]);
  return core;
}

/** A stored document, as far as matching and ordering go. */
export interface MatchDoc {
  _id: string;
  doc?: unknown;
}

/** True when `doc` (`{ _id, doc: value }`) matches `selector` (over `doc.` fields). */
export async function matches(doc: MatchDoc, selector: Selector): Promise<boolean> {
  const [sc] = await load();
  return sc.matchesSelector(doc, forEngine(selector));
}

/** The synchronous matcher and comparator (after {@link load}); `server`: strings in the server's order (see {@link serverCollate}). */
export async function matcher(sort: { field: string; desc: boolean }[], server = false) {
  const [sc, { collate: pouchCollate }] = await load();
  const collate = server ? serverCollate : pouchCollate;
  const fields = sort.map((s) => ({ path: sc.parseField(s.field), desc: s.desc }));
  const desc = sort[0]?.desc === true;
  const byId = (a: MatchDoc, b: MatchDoc) => (a._id < b._id ? -1 : a._id > b._id ? 1 : 0);
  const compare = (a: MatchDoc, b: MatchDoc): number => {
    for (const f of fields) {
      const c = collate(sc.getFieldFromDoc(a, f.path), sc.getFieldFromDoc(b, f.path));
      if (c !== 0) return f.desc ? -c : c;
    }
    // Ties (and unsorted queries) in key order, as an index (or `_all_docs`) gives them (reversed by a descending
    // first sort field).
    return desc && fields.length ? -byId(a, b) : byId(a, b);
  };
  // `rewritten`: a selector in the engine's form already (forEngine's output), matched as it is.
  return { matches: (doc: MatchDoc, selector: Selector) => sc.matchesSelector(doc, forEngine(selector)), rewritten: sc.matchesSelector, compare };
}

/**
 * The order of a query's results (CouchDB's collation of the sort fields, then the key). `server`: as CouchDB orders
 * them, strings by ICU collation (`apple` < `Apple` < `Banana`, `item_1` < `item1`), not pouchdb-collate's code units.
 */
export async function compareDocs(sort: { field: string; desc: boolean }[], server = false): Promise<(a: MatchDoc, b: MatchDoc) => number> {
  return (await matcher(sort, server)).compare;
}

let icu: Intl.Collator | undefined;
/** CouchDB's types in its order: missing, null, false, true, numbers, strings, arrays, objects. */
const rank = (v: unknown): number =>
  v === undefined ? 0 : v === null ? 1 : typeof v === 'boolean' ? 2 : typeof v === 'number' ? 3 : typeof v === 'string' ? 4 : Array.isArray(v) ? 5 : 6;

/** CouchDB's collation of JSON values, strings by ICU's root collation (`Intl.Collator('und')`). */
function serverCollate(a: unknown, b: unknown): number {
  const [ra, rb] = [rank(a), rank(b)];
  if (ra !== rb) return ra - rb;
  switch (ra) {
    case 2:
      return Number(a) - Number(b);
    case 3:
      return (a as number) - (b as number);
    case 4:
      return (icu ??= new Intl.Collator('und')).compare(a as string, b as string);
    case 5: {
      const [x, y] = [a as unknown[], b as unknown[]];
      for (let i = 0; i < Math.min(x.length, y.length); i++) {
        const c = serverCollate(x[i], y[i]);
        if (c !== 0) return c;
      }
      return x.length - y.length;
    }
    case 6: {
      const [x, y] = [Object.entries(a as object), Object.entries(b as object)];
      for (let i = 0; i < Math.min(x.length, y.length); i++) {
        const c = serverCollate(x[i]![0], y[i]![0]) || serverCollate(x[i]![1], y[i]![1]);
        if (c !== 0) return c;
      }
      return x.length - y.length;
    }
    default:
      return 0;
  }
}
