/**
 * Selectors for pouchdb-find and pouchdb-selector-core (the replica's query engine, the in-memory matcher, the
 * emulator's planner): CouchDB's meaning in a form they get right. No I/O, no dependencies.
 */
type Selector = Record<string, unknown>;

const SUB_SELECTORS = new Set(['$elemMatch', '$allMatch', '$keyMapMatch']);
const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export const escapeRegex = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

const engineCache = new WeakMap<Selector, Selector>();

/**
 * The selector for the replica's engine (pouchdb-find) and the in-memory matcher (pouchdb-selector-core), in a form
 * they get right:
 * - no `$and`, at any level: their normalisation keeps only an `$and` and drops what is beside it (`{ n: { $lt: 9 },
 *   $and: [...] }` lost `n`), merges two `$or`s into a product that drops terms, and keeps one of two `$not`s. A
 *   conjunction is one object: conditions of one field are merged while no operator repeats; any other conjunct, and
 *   every negation, goes in one `$nor` list (`{ $nor: [{ $nor: [c] }] }` is `c`; `$nor: [c]` is "not c");
 * - `$beginsWith` (CouchDB 3.4) as an anchored `$regex`, which matches the same values (strings that start with it; a
 *   prefix of well-formed UTF-16 is one of UTF-8 bytes too; beside an app's `$regex`, both in one expression);
 * - a field's `$not` (`{ f: { $not: c } }`, which they refuse) as `{ f: { $exists: true } }` and "not `{ f: c }`": as
 *   in CouchDB, it never holds where the field is missing.
 * The server gets the selector as the app wrote it. The same object for the same selector.
 */
export function forEngine(selector: Selector): Selector {
  let out = engineCache.get(selector);
  if (!out) engineCache.set(selector, (out = engineSelector(selector)));
  return out;
}

/** A conjunction being built as one object (see {@link forEngine}). */
class Conjunction {
  readonly out: Selector = {};
  readonly nor: Selector[] = [];

  field(name: string, cond: unknown): void {
    const ops = isPlainObject(cond) ? cond : { $eq: cond };
    const had = this.out[name] as Record<string, unknown> | undefined;
    if (had === undefined) this.out[name] = ops;
    else if (Object.keys(ops).every((op) => !(op in had))) this.out[name] = { ...had, ...ops };
    else this.nor.push({ $nor: [{ [name]: ops }] });
  }

  or(selectors: Selector[]): void {
    if (this.out.$or === undefined) this.out.$or = selectors;
    else this.nor.push({ $nor: [{ $or: selectors }] });
  }

  /** "Not `selector`". */
  not(selector: Selector): void {
    this.nor.push(selector);
  }

  result(): Selector {
    return this.nor.length > 0 ? { ...this.out, $nor: this.nor } : this.out;
  }
}

function engineSelector(selector: Selector): Selector {
  const conj = new Conjunction();
  add(conj, selector);
  return conj.result();
}

const selectors = (arg: unknown): Selector[] => (Array.isArray(arg) ? arg.filter(isPlainObject).map(engineSelector) : []);

function add(conj: Conjunction, selector: Selector): void {
  // Operators on the value itself (in an `$elemMatch`, or a `$not` of a field): as a field's, on its own key.
  const ops: Record<string, unknown> = {};
  for (const [name, arg] of Object.entries(selector)) {
    if (name === '$and') for (const part of selectors(arg)) add(conj, part);
    else if (name === '$or') conj.or(selectors(arg));
    else if (name === '$nor') for (const s of selectors(arg)) conj.not(s);
    else if (name === '$not') {
      if (isPlainObject(arg)) conj.not(engineSelector(arg));
    }
    else if (name.startsWith('$')) ops[name] = arg;
    else if (!isPlainObject(arg)) conj.field(name, arg);
    else {
      const { $not: negated, ...rest } = arg;
      if (negated !== undefined) {
        conj.field(name, { $exists: true });
        conj.not(engineSelector({ [name]: negated }));
      }
      if (Object.keys(rest).length > 0 || negated === undefined) conj.field(name, engineCondition(rest));
    }
  }
  if (Object.keys(ops).length > 0) Object.assign(conj.out, engineCondition(ops));
}

/** A field's operators, for the engine: `$beginsWith` as a `$regex`; sub-selectors' own fields likewise. */
function engineCondition(cond: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, arg] of Object.entries(cond)) {
    if (name === '$beginsWith') continue;
    out[name] = SUB_SELECTORS.has(name) && isPlainObject(arg) ? engineSelector(arg) : arg;
  }
  if (typeof cond.$beginsWith === 'string') {
    const prefix = escapeRegex(cond.$beginsWith);
    out.$regex = typeof cond.$regex === 'string' ? `^(?=${prefix})[\\s\\S]*?(?:${cond.$regex})` : `^${prefix}`;
  }
  return out;
}
