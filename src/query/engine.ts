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
 * The selector for the replica's engine (pouchdb-find) and the in-memory matcher (pouchdb-selector-core), which match
 * it as CouchDB 3.4 does (and the same selector again for its own output, which a replica's scan matches in memory):
 * - CouchDB's normal form first (mango_selector:normalize): one operator per condition, and every negation (`$not`,
 *   `$nor`, a field's `$not`) pushed down to the fields (`$gt` ↔ `$lte`, `$eq` ↔ `$ne`, `$in` ↔ `$nin`, `$exists`
 *   flipped; any other operator keeps a `$not` of its own). Then, as CouchDB matches a condition, it never holds where
 *   the field is missing or lies below a value that is not an object, save `$exists: false` where it is missing: the
 *   engines matched `$ne`, `$nin` and negations on a missing field, and `$exists: false` below a scalar or `null`;
 * - no `$and`, at any level: their normalisation keeps only an `$and` and drops what is beside it (`{ n: { $lt: 9 },
 *   $and: [...] }` lost `n`), merges two `$or`s into a product that drops terms, and keeps one of two `$not`s. A
 *   conjunction is one object: conditions of one field are merged while no operator repeats; any other conjunct, and
 *   every negation, goes in one `$nor` list (`{ $nor: [{ $nor: [c] }] }` is `c`; `$nor: [c]` is "not c");
 * - `$beginsWith` (CouchDB 3.4) as an anchored `$regex`, which matches the same values (strings that start with it; a
 *   prefix of well-formed UTF-16 is one of UTF-8 bytes too).
 * The server gets the selector as the app wrote it. The same object for the same selector.
 */
export function forEngine(selector: Selector): Selector {
  let out = engineCache.get(selector);
  if (!out) engineCache.set(selector, (out = emit(parse(selector))));
  return out;
}

/** A selector in CouchDB's normal form: conjunctions, disjunctions and one-operator conditions on a field. */
type Node = { kind: 'and'; nodes: Node[] } | { kind: 'or'; nodes: Node[] } | Term;
interface Term {
  kind: 'term';
  field: string;
  op: string;
  arg: unknown;
  /** A condition CouchDB cannot turn into its opposite (`$regex`, `$size`, …): "the field exists and does not match". */
  not: boolean;
}

const and = (nodes: Node[]): Node => (nodes.length === 1 ? nodes[0]! : { kind: 'and', nodes });
const or = (nodes: Node[]): Node => (nodes.length === 1 ? nodes[0]! : { kind: 'or', nodes });
const list = (arg: unknown): unknown[] => (Array.isArray(arg) ? arg : []);

function parse(selector: Selector): Node {
  const nodes: Node[] = [];
  for (const [name, arg] of Object.entries(selector)) {
    if (name === '$and') nodes.push(and(list(arg).filter(isPlainObject).map(parse)));
    else if (name === '$or') nodes.push(or(list(arg).filter(isPlainObject).map(parse)));
    else if (name === '$nor') nodes.push(and(list(arg).filter(isPlainObject).map((s) => negate(parse(s)))));
    else if (name === '$not') nodes.push(negate(parse(isPlainObject(arg) ? arg : {})));
    else nodes.push(parseCondition(name, arg));
  }
  return and(nodes);
}

/** A field's condition: a value (equality) or an object of operators (and, below it, nested fields). */
function parseCondition(field: string, cond: unknown): Node {
  if (!isPlainObject(cond)) return { kind: 'term', field, op: '$eq', arg: cond, not: false };
  const nodes: Node[] = [];
  for (const [op, arg] of Object.entries(cond)) {
    if (!op.startsWith('$')) nodes.push(parseCondition(`${field}.${op}`, arg));
    else if (op === '$and') nodes.push(and(list(arg).map((c) => parseCondition(field, c))));
    else if (op === '$or') nodes.push(or(list(arg).map((c) => parseCondition(field, c))));
    else if (op === '$nor') nodes.push(and(list(arg).map((c) => negate(parseCondition(field, c)))));
    else if (op === '$not') nodes.push(negate(parseCondition(field, arg)));
    else nodes.push({ kind: 'term', field, op, arg, not: false });
  }
  return nodes.length === 0 ? { kind: 'term', field, op: '$eq', arg: {}, not: false } : and(nodes);
}

const OPPOSITE: Record<string, string> = { $lt: '$gte', $lte: '$gt', $gt: '$lte', $gte: '$lt', $eq: '$ne', $ne: '$eq', $in: '$nin', $nin: '$in' };

/** CouchDB's `negate` (De Morgan down to the fields). */
function negate(node: Node): Node {
  if (node.kind === 'and') return or(node.nodes.map(negate));
  if (node.kind === 'or') return and(node.nodes.map(negate));
  if (node.not) return { ...node, not: false };
  const opposite = OPPOSITE[node.op];
  if (opposite) return { ...node, op: opposite };
  if (node.op === '$exists') return { ...node, arg: !node.arg };
  return { ...node, not: true };
}

/** A conjunction being built as one object (see {@link forEngine}). */
class Conjunction {
  readonly out: Selector = {};
  readonly nor: Selector[] = [];

  field(name: string, ops: Record<string, unknown>): void {
    const had = this.out[name] as Record<string, unknown> | undefined;
    if (had === undefined) return void (this.out[name] = ops);
    const more = Object.entries(ops).filter(([op, arg]) => !(op in had) || JSON.stringify(had[op]) !== JSON.stringify(arg));
    if (more.every(([op]) => !(op in had))) this.out[name] = { ...had, ...Object.fromEntries(more) };
    else this.nor.push({ $nor: [{ [name]: ops }] });
  }

  or(selectors: Selector[]): void {
    if (selectors.length === 1) return this.merge(selectors[0]!);
    if (this.out.$or === undefined) this.out.$or = selectors;
    else this.nor.push({ $nor: [{ $or: selectors }] });
  }

  /** Another conjunction's object, merged in. */
  merge(selector: Selector): void {
    for (const [name, arg] of Object.entries(selector)) {
      if (name === '$nor') this.nor.push(...(arg as Selector[]));
      else if (name === '$or') this.or(arg as Selector[]);
      else this.field(name, arg as Record<string, unknown>);
    }
  }

  /** "Not `selector`". */
  not(selector: Selector): void {
    this.nor.push(selector);
  }

  result(): Selector {
    return this.nor.length > 0 ? { ...this.out, $nor: this.nor } : this.out;
  }
}

function emit(node: Node): Selector {
  const conj = new Conjunction();
  add(conj, node);
  return conj.result();
}

function add(conj: Conjunction, node: Node): void {
  if (node.kind === 'and') for (const n of node.nodes) add(conj, n);
  else if (node.kind === 'or') conj.or(node.nodes.map(emit));
  else addTerm(conj, node);
}

function addTerm(conj: Conjunction, { field, op, arg, not }: Term): void {
  const alternatives = engineOps(op, arg);
  const ops = alternatives[0]!;
  // Split at the dots as the engines read a field name: `a\\.b` is the one field `a.b` (CouchDB's escape).
  const path = field.match(/(?:\\[.$]|[^.])+/g) ?? [field];
  if (op === '$exists' && arg === false) {
    // Missing from an object on its path; below a scalar, `null` or an array CouchDB finds a bad path (no match).
    conj.or(
      path.map((_, k) => {
        const missing = { [path.slice(0, k + 1).join('.')]: { $exists: false } };
        return k === 0 ? missing : { [path.slice(0, k).join('.')]: { $type: 'object' }, ...missing };
      }),
    );
    return;
  }
  // Below anything but an object CouchDB finds a bad path (no match); pouchdb-selector-core reads a falsy value on
  // the way (`0`, `null`, `''`) as the field's own, and indexes into strings. An index (`tags.0`) is an array's element
  // or an object's field "0": arrays and objects are the values from `[]` up in CouchDB's collation.
  if (path.length > 1) conj.field(path.slice(0, -1).join('.'), /^\d+$/.test(path.at(-1)!) ? { $gte: [] } : { $type: 'object' });
  if (not) {
    conj.field(field, { $exists: true });
    conj.not(alternatives.length === 1 ? { [field]: ops } : { $or: alternatives.map((o) => ({ [field]: o })) });
  } else if (alternatives.length > 1) {
    conj.or(alternatives.map((o) => ({ [field]: o })));
  } else if (op === '$ne' && Array.isArray(arg)) {
    // pouchdb-selector-core reads an array there as a list of values the field is none of (`$ne: []` held for every
    // value); CouchDB compares with the whole array: "not equal" as a negated `$eq` (which compares whole values).
    conj.field(field, { $exists: true });
    conj.not({ [field]: { $eq: arg } });
  } else if (op === '$ne') {
    conj.field(field, { $exists: true, ...ops });
  } else if ((op === '$in' || op === '$nin') && Array.isArray(arg)) {
    // pouchdb-selector-core's `$in`/`$nin` never hold for `null`; CouchDB's compare it as any other value.
    const nullListed = arg.includes(null);
    if (op === '$in' ? nullListed : !nullListed) conj.or([{ [field]: { $type: 'null' } }, { [field]: ops }]);
    else conj.field(field, ops);
  } else conj.field(field, ops);
}

/**
 * A field's condition as the engines read it right: alternatives (any of them holds), most often one.
 * - `$all` as CouchDB 3.4 matches it: `[]` never; `[A]`, A an array, also when the field equals A;
 * - `$elemMatch` of `$eq` alone, or of `{}` (CouchDB reads it as `$eq: {}`), as an `$in` over the array's elements:
 *   pouchdb-selector-core takes a sub-selector's operators for fields when the first element is an object or array.
 */
function engineOps(op: string, arg: unknown): Record<string, unknown>[] {
  if (op === '$beginsWith' && typeof arg === 'string') return [{ $regex: `^${escapeRegex(arg)}` }];
  if (op === '$all' && Array.isArray(arg)) {
    // (`$in: []` holds for nothing.)
    if (arg.length === 0) return [{ $in: [] }];
    if (arg.length === 1 && Array.isArray(arg[0])) return [{ $eq: arg[0] }, { $all: arg }];
  }
  if (op === '$elemMatch' && isPlainObject(arg)) {
    const keys = Object.keys(arg);
    if (keys.length === 0) return [{ $type: 'array', $in: [{}] }];
    if (keys.length === 1 && keys[0] === '$eq') return [{ $type: 'array', $in: [arg.$eq] }];
  }
  return [{ [op]: SUB_SELECTORS.has(op) && isPlainObject(arg) ? subSelector(arg) : arg }];
}

/**
 * The selector of an `$elemMatch`/`$allMatch` (over each element: its fields, or operators on the element itself): no
 * `$and`, `$beginsWith` as a `$regex`; negations inside it are left as written.
 */
function subSelector(selector: Selector): Selector {
  const conj = new Conjunction();
  addSub(conj, selector);
  const out = conj.result();
  // Fields of an element: CouchDB finds them in objects only. pouchdb-selector-core looks them up in any element (and
  // fails on `null`) unless the array starts with an object: `$gte: {}` first, which only an object passes (objects
  // collate last), stops it before the fields; over an array starting with an object it reads `$gte` as a field of
  // each element, whose condition `{}` always holds.
  return Object.keys(out).some((k) => !k.startsWith('$')) && !('$gte' in out) ? { $gte: {}, ...out } : out;
}

function addSub(conj: Conjunction, selector: Selector): void {
  for (const [name, arg] of Object.entries(selector)) {
    if (name === '$and') for (const part of list(arg).filter(isPlainObject)) addSub(conj, part);
    else if (name === '$or') conj.or(list(arg).filter(isPlainObject).map(subSelector));
    else if (name === '$nor') for (const s of list(arg).filter(isPlainObject)) conj.not(subSelector(s));
    else if (name === '$not') conj.not(subSelector(isPlainObject(arg) ? arg : {}));
    else if (name === '$beginsWith' && typeof arg === 'string') conj.out.$regex = `^${escapeRegex(arg)}`;
    else if (name.startsWith('$')) conj.out[name] = SUB_SELECTORS.has(name) && isPlainObject(arg) ? subSelector(arg) : arg;
    else if (!isPlainObject(arg)) conj.field(name, { $eq: arg });
    else conj.field(name, subCondition(arg));
  }
}

function subCondition(cond: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [op, arg] of Object.entries(cond)) {
    if (op === '$beginsWith' && typeof arg === 'string') out.$regex = `^${escapeRegex(arg)}`;
    else out[op] = SUB_SELECTORS.has(op) && isPlainObject(arg) ? subSelector(arg) : arg;
  }
  return out;
}

const serverCache = new WeakMap<Selector, Selector>();

/**
 * A value of an `$in`, `$nin` or `$all` list CouchDB 3.4.3 fails on (500 `function_clause`) once the database has a
 * json index, as every SDK database has: `null` or an array.
 */
const crashes = (v: unknown): boolean => v === null || Array.isArray(v);
const LISTS = new Set(['$in', '$nin', '$all']);

/**
 * The selector as sent to CouchDB: the same meaning, without what CouchDB 3.4.3 fails on — `null` or an array in an
 * `$in`, `$nin` or `$all` list. Its own `$elemMatch: { $eq }` matches each such value as those operators do: an array
 * field by its elements (`$all: [A]`, A an array, also when the field equals A), any other by its value. A field's
 * `$and`/`$or`/`$nor` is moved above the field (as CouchDB normalises it) to be rewritten too. The same object for the
 * same selector.
 */
export function forServer(selector: Selector): Selector {
  let out = serverCache.get(selector);
  if (!out) serverCache.set(selector, (out = serverSelector(selector)));
  return out;
}

/**
 * An `$in`/`$nin`/`$all` over `at` (a field; inside `$elemMatch`, the element itself) as a selector CouchDB answers, or
 * `undefined` when it answers the list as it is. `keep`: what stays in the list (the values it answers), if any.
 */
function listSelector(op: string, list: unknown, at: (cond: Selector) => Selector): { keep: unknown[]; rest: Selector } | undefined {
  if (!Array.isArray(list) || !list.some(crashes)) return undefined;
  const keep = list.filter((v) => !crashes(v));
  const held = (v: unknown): Selector[] => [...(v === null ? [at({ $eq: null })] : []), at({ $elemMatch: { $eq: v } })];
  const odd = list.filter(crashes);
  if (op === '$in') {
    const terms = [...(keep.length > 0 ? [at({ $in: keep })] : []), ...odd.flatMap(held)];
    return { keep: [], rest: terms.length === 1 ? terms[0]! : { $or: terms } };
  }
  // (Negations with `$not` each: CouchDB's `$nor` inside an `$elemMatch` matches nothing.)
  if (op === '$nin') return { keep, rest: { $and: odd.flatMap(held).map((t) => ({ $not: t })) } };
  const all = [...(keep.length > 0 ? [at({ $all: keep })] : []), ...odd.map((v) => at({ $elemMatch: { $eq: v } }))];
  const every = all.length === 1 ? all[0]! : { $and: all };
  return { keep: [], rest: list.length === 1 && Array.isArray(list[0]) ? { $or: [every, at({ $eq: list[0] })] } : every };
}

function serverSelector(selector: Selector): Selector {
  const out: Selector = {};
  const more: Selector[] = [];
  for (const [name, arg] of Object.entries(selector)) {
    const own = LISTS.has(name) ? listSelector(name, arg, (cond) => cond) : undefined;
    if (own) {
      if (own.keep.length > 0) out[name] = own.keep;
      more.push(own.rest);
    } else if ((name === '$and' || name === '$or' || name === '$nor') && Array.isArray(arg)) out[name] = arg.map((s) => (isPlainObject(s) ? serverSelector(s) : s));
    else if (name === '$not' && isPlainObject(arg)) out[name] = serverSelector(arg);
    else if (name.startsWith('$') || !isPlainObject(arg)) out[name] = arg;
    else {
      const cond: Record<string, unknown> = {};
      const before = more.length;
      for (const [op, value] of Object.entries(arg)) {
        const listed = LISTS.has(op) ? listSelector(op, value, (c) => ({ [name]: c })) : undefined;
        if (listed) {
          if (listed.keep.length > 0) cond[op] = listed.keep;
          more.push(listed.rest);
        } else if ((op === '$and' || op === '$or' || op === '$nor') && Array.isArray(value)) {
          more.push({ [op]: value.map((c) => serverSelector({ [name]: c })) });
        } else if (op === '$not' && isPlainObject(value)) more.push({ $not: serverSelector({ [name]: value }) });
        else cond[op] = SUB_SELECTORS.has(op) && isPlainObject(value) ? serverSelector(value) : value;
      }
      // (`{ field: {} }` is `$eq: {}` to CouchDB: an emptied condition is left out.)
      if (Object.keys(cond).length > 0 || more.length === before) out[name] = cond;
    }
  }
  if (more.length === 0) return out;
  return { $and: [out, ...more].filter((s) => Object.keys(s).length > 0) };
}
