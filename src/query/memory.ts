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

/** The synchronous matcher and comparator (after {@link load}). */
export async function matcher(sort: { field: string; desc: boolean }[]) {
  const [sc, { collate }] = await load();
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
  return { matches: (doc: MatchDoc, selector: Selector) => sc.matchesSelector(doc, forEngine(selector)), compare };
}

/** The order of a query's results (CouchDB's collation of the sort fields, then the key). */
export async function compareDocs(sort: { field: string; desc: boolean }[]): Promise<(a: MatchDoc, b: MatchDoc) => number> {
  return (await matcher(sort)).compare;
}
