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
 * it as CouchDB 3.4 does (a replica's scan matches this output as it is: rewritten again, its own `$nor`s inside an
 * `$elemMatch` would read as the app's, which CouchDB never matches):
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
 *   prefix of well-formed UTF-16 is one of UTF-8 bytes too);
 * - `$elemMatch`/`$allMatch` with the same rewrites inside, in forms pouchdb-selector-core does not misread whatever
 *   the array starts with (see {@link elementsSelector}).
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

/** The sides of a range an operator bounds (1 below, 2 above). */
const BOUNDS: Record<string, number> = { $eq: 3, $gt: 1, $gte: 1, $lt: 2, $lte: 2 };

/** A conjunction being built as one object (see {@link forEngine}). */
class Conjunction {
  readonly out: Selector = {};
  readonly nor: Selector[] = [];

  field(name: string, ops: Record<string, unknown>): void {
    const had = this.out[name] as Record<string, unknown> | undefined;
    if (had === undefined) return void (this.out[name] = ops);
    const more = Object.entries(ops).filter(([op, arg]) => !(op in had) || JSON.stringify(had[op]) !== JSON.stringify(arg));
    // pouchdb-find plans an index range from a field's `$eq`/`$gt`/`$gte`/`$lt`/`$lte` without matching them again:
    // of two bounds on one side (`$eq` is both) it keeps one (`$eq: 1` beside `$gt: 5` matched 1). One of each here.
    const sides = (names: string[]) => names.reduce((s, op) => s | (BOUNDS[op] ?? 0), 0);
    if (more.every(([op]) => !(op in had)) && !(sides(Object.keys(had)) & sides(more.map(([op]) => op)))) this.out[name] = { ...had, ...Object.fromEntries(more) };
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
  const elements = SUB_SELECTORS.has(op) && isPlainObject(arg) ? elementsSelector(field, op, arg) : undefined;
  if (elements) {
    if (not) {
      conj.field(field, { $exists: true });
      conj.not(elements);
    } else conj.merge(elements);
  } else if (not) {
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
 * - `$elemMatch: {}` (CouchDB reads it as `$eq: {}`) as an `$in` over the array's elements.
 */
function engineOps(op: string, arg: unknown): Record<string, unknown>[] {
  if (op === '$beginsWith' && typeof arg === 'string') return [{ $regex: `^${escapeRegex(arg)}` }];
  if (op === '$all' && Array.isArray(arg)) {
    // (`$in: []` holds for nothing.)
    if (arg.length === 0) return [{ $in: [] }];
    if (arg.length === 1 && Array.isArray(arg[0])) return [{ $eq: arg[0] }, { $all: arg }];
  }
  if (op === '$elemMatch' && isPlainObject(arg) && Object.keys(arg).length === 0) return [{ $type: 'array', $in: [{}] }];
  return [{ [op]: SUB_SELECTORS.has(op) && isPlainObject(arg) ? subSelector(arg) : arg }];
}

const anyOf = (selectors: Selector[]): Selector => (selectors.length === 1 ? selectors[0]! : { $or: selectors });
function allOf(...selectors: Selector[]): Selector {
  const conj = new Conjunction();
  for (const s of selectors) conj.merge(s);
  return conj.result();
}
/** `$in`/`$nin` over a list whose `null` pouchdb-selector-core misreads: its `$in`/`$nin` never hold for `null`. */
const nullMisread = (op: string, arg: unknown): arg is unknown[] => (op === '$in' || op === '$nin') && Array.isArray(arg) && (op === '$in') === arg.includes(null);

/**
 * An `$elemMatch`/`$allMatch` as a selector over `field` the engines read right, or `undefined` where
 * {@link engineOps} has its form. pouchdb-selector-core matches each element as a value only while the array starts
 * with anything but an object or array: then it reads the sub-selector's operators as fields of each element (`$ne`,
 * `$in`: "Cannot read properties of undefined") and fails on a `null` element.
 */
function elementsSelector(field: string, op: string, arg: Selector): Selector | undefined {
  if (op === '$keyMapMatch' || Object.keys(arg).length === 0) return undefined;
  if (norIn(arg)) return { [field]: { $in: [] } };
  const nonEmpty = { [field]: { $type: 'array', $gt: [] } };
  const ops = elementOps(arg);
  if (ops) return elementMatch(field, op, ops);
  // "Some element not P" as "not every element P", and the other way (P without an opposite: `$mod`, `$regex`, two
  // operators…): pouchdb-selector-core has no negation of an element's operators.
  const [[only, negated] = []] = Object.entries(arg);
  const opposite = only === '$not' && Object.keys(arg).length === 1 && isPlainObject(negated) ? elementOps(negated) : undefined;
  if (opposite) return allOf(nonEmpty, { $nor: [elementMatch(field, op === '$elemMatch' ? '$allMatch' : '$elemMatch', opposite)] });
  if (op !== '$elemMatch') {
    // (Every element unequal to each of them: none equal to one.)
    const unequal = neValues(arg);
    if (unequal) return allOf(nonEmpty, { $nor: [{ [field]: { $type: 'array', $in: unequal } }] });
    // Every element an object with those fields: none is `null` — a guard pouchdb-selector-core reads before the
    // elements (it fails on a `null` one when the array starts with an object).
    const sub = subSelector(arg);
    return fieldsIn(sub) ? { [field]: { $type: 'array', $nin: [null], [op]: sub } } : undefined;
  }
  // Some element matches one of the alternatives: pouchdb-selector-core fails on an `$or` over an element that is no
  // object ("unknown operator"), and a condition with `null` in `$in` (not in `$nin`) is two.
  return anyOf(
    disjuncts([arg]).map((parts) => {
      const own = elementOps({ $and: parts });
      return own ? elementMatch(field, op, own) : fieldsMatch(field, { $and: parts });
    }),
  );
}

/**
 * True when a sub-selector has a `$nor` (at its top or in its `$and`s): CouchDB 3.4 never matches it there (its
 * match/3 has no clause for one, normalized away elsewhere: measured).
 */
const norIn = (selector: Selector): boolean => '$nor' in selector || list(selector.$and).some((part) => isPlainObject(part) && norIn(part));

/**
 * An `$elemMatch` on the elements' fields. pouchdb-selector-core fails on a `null` element of an array starting with
 * an object or array (and no earlier element matching): there the first element decides — exact where it matches,
 * and where the later ones agree with it.
 */
function fieldsMatch(field: string, selector: Selector): Selector {
  const sub = subSelector(selector);
  if (!fieldsIn(sub)) return { [field]: { $elemMatch: sub } };
  // A field named by an index (`'0'`) comes first in an object, before the guard: it is read on a `null` element
  // (and fails) wherever the array starts. Such an array holding `null`: its first element decides.
  const indexed = Object.keys(sub).some((k) => /^\d+$/.test(k));
  return anyOf([
    { [field]: { $type: 'array', $nin: [null], $elemMatch: sub } },
    ...(indexed ? [] : [{ [field]: { $type: 'array', $lt: [[]], $elemMatch: sub } }]),
    emit(and([parseCondition(field, { $type: 'array', ...(indexed ? {} : { $gte: [[]] }), $in: [null] }), parse(at(`${field}.0`, selector))])),
  ]);
}

/** A sub-selector as one over the element at `path` (its fields below it, its operators on it). */
function at(path: string, selector: Selector): Selector {
  const parts = Object.entries(selector).map(([name, arg]): Selector => {
    if (name === '$and' || name === '$or' || name === '$nor') return { [name]: list(arg).filter(isPlainObject).map((s) => at(path, s)) };
    if (name === '$not') return { $not: at(path, isPlainObject(arg) ? arg : {}) };
    return name.startsWith('$') ? { [path]: { [name]: arg } } : { [`${path}.${name}`]: arg };
  });
  return { $and: parts };
}

/**
 * The operators of a sub-selector on the element itself (none on its fields, no `$or`/`$nor`, none repeated), if so.
 */
function elementOps(selector: Selector): Record<string, unknown> | undefined {
  const into: Record<string, unknown> = {};
  return addElementOps(selector, into) && Object.keys(into).length > 0 ? into : undefined;
}

function addElementOps(selector: Selector, into: Record<string, unknown>): boolean {
  for (const [op, arg] of Object.entries(selector)) {
    if (op === '$and') {
      if (!list(arg).every((part) => isPlainObject(part) && addElementOps(part, into))) return false;
    } else if (op === '$not' && isPlainObject(arg)) {
      // (A negated operator as its opposite, as CouchDB normalises it.)
      const own = elementOps(arg);
      const [[o, a] = []] = own ? Object.entries(own) : [];
      if (own === undefined || Object.keys(own).length !== 1 || !OPPOSITE[o!] || OPPOSITE[o!]! in into) return false;
      into[OPPOSITE[o!]!] = a;
    } else if (op === '$beginsWith' && typeof arg === 'string' && !('$regex' in into)) into.$regex = `^${escapeRegex(arg)}`;
    else if (!op.startsWith('$') || op === '$or' || op === '$nor' || op === '$not' || op === '$beginsWith' || op in into) return false;
    else into[op] = arg;
  }
  return true;
}

/** The values of a sub-selector made of `$ne`s on the element (in `$and`s), if so. */
function neValues(selector: Selector, into: unknown[] = []): unknown[] | undefined {
  for (const [op, arg] of Object.entries(selector)) {
    if (op === '$ne') into.push(arg);
    else if (op !== '$and' || !list(arg).every((part) => isPlainObject(part) && neValues(part, into))) return undefined;
  }
  return into;
}

/**
 * A sub-selector (conjuncts) as alternatives without an `$or`, nor a field's `$in` holding `null` or `$nin` without
 * it (the field `null`, or the list without it), nor `$ne` of an array (below it, or above), each a list of conjuncts.
 */
function disjuncts(parts: Selector[]): Selector[][] {
  for (const [i, part] of parts.entries()) {
    for (const [name, arg] of Object.entries(part)) {
      const others = [...parts.slice(0, i), ...parts.slice(i + 1)];
      const { [name]: _, ...rest } = part;
      if (name === '$and') return disjuncts([...others, rest, ...list(arg).filter(isPlainObject)]);
      if (name === '$or') return list(arg).filter(isPlainObject).flatMap((alt) => disjuncts([...others, rest, alt]));
      // (A second `$ne` on the element: below or above that value, one `$ne` to each alternative.)
      if (name === '$ne' && others.some((o) => '$ne' in o)) return [{ $lt: arg }, { $gt: arg }].flatMap((alt) => disjuncts([...others, rest, alt]));
      if (name.startsWith('$') || !isPlainObject(arg)) continue;
      const split = Object.entries(arg).find(([o, a]) => nullMisread(o, a) || (o === '$ne' && Array.isArray(a)));
      if (!split) continue;
      const [o, values] = split as [string, unknown[]];
      const { [o]: __, ...cond } = arg;
      const without = disjuncts([...others, rest, ...(Object.keys(cond).length > 0 ? [{ [name]: cond }] : [])]);
      // (Unequal to an array: below or above it.)
      if (o === '$ne') return without.flatMap((d) => [[...d, { [name]: { $lt: values } }], [...d, { [name]: { $gt: values } }]]);
      const listed = o === '$in' ? values.filter((v) => v !== null) : values;
      return without.flatMap((d) => [
        [...d, { [name]: null }],
        // (`$nin` as pouchdb-selector-core reads it, `null` excluded: a list holding `null`, rewritten no more.)
        ...(o === '$nin' ? [[...d, { [name]: { $nin: [...values, null] } }]] : listed.length > 0 ? [[...d, { [name]: { $in: listed } }]] : []),
      ]);
    }
  }
  return [parts];
}

/** An `$elemMatch`/`$allMatch` of operators on the element itself (see {@link elementsSelector}). */
function elementMatch(field: string, op: string, ops: Record<string, unknown>): Selector {
  const keys = Object.keys(ops);
  const only = keys.length === 1 ? keys[0]! : undefined;
  const arg = only === undefined ? undefined : ops[only];
  // (An element equal to one of `values`, compared whole, `null` too; a nonempty array.)
  const holding = (values: unknown[]): Selector => ({ [field]: { $type: 'array', $in: values } });
  const nonEmpty = { [field]: { $type: 'array', $gt: [] } };
  const none = (s: Selector): Selector => ({ $nor: [s] });
  if (op === '$elemMatch') {
    if (only === '$eq') return holding([arg]);
    if (only === '$type' && arg === 'null') return holding([null]);
    if (only === '$exists') return arg === true ? nonEmpty : { [field]: { $in: [] } };
    if (only !== undefined && nullMisread(only, arg)) {
      const listed = only === '$in' ? arg.filter((v) => v !== null) : arg;
      const others = only === '$nin' ? [byFirst(field, op, { $nin: [...arg, null] })] : listed.length > 0 ? [elementMatch(field, op, { $in: listed })] : [];
      return anyOf([holding([null]), ...others]);
    }
    // An element in the list: any but an array compared whole (exact whatever the array starts with), an array by its
    // elements (as CouchDB's `$in` reads a value that is an array).
    if (only === '$in' && Array.isArray(arg)) {
      const whole = arg.filter((v) => !Array.isArray(v));
      return anyOf([...(whole.length > 0 ? [holding(whole)] : []), byFirst(field, op, ops)]);
    }
    // (An array starting with anything but an array holds an element unequal to an array: the first.)
    if (only === '$ne' && Array.isArray(arg)) return byFirst(field, op, ops, { $gt: [] });
  } else {
    // "Every element" as "a nonempty array without an element that is not".
    if (only === '$ne') return allOf(nonEmpty, none(holding([arg])));
    if (only === '$eq') return allOf(nonEmpty, none(elementMatch(field, '$elemMatch', { $ne: arg })));
    if ((only === '$in' || only === '$nin') && Array.isArray(arg)) return allOf(nonEmpty, none(elementMatch(field, '$elemMatch', { [only === '$in' ? '$nin' : '$in']: arg })));
  }
  return byFirst(field, op, ops);
}

/**
 * Split by the array's first element: when it is no object or array (the array lies below `[[]]` in CouchDB's
 * collation) pouchdb-selector-core reads the operators right on each element (`scalar`: what stands for them there);
 * else the first element decides, matched as the field `field.0` — exact where it matches an `$elemMatch` or fails an
 * `$allMatch`, and where the later elements agree with it.
 */
function byFirst(field: string, op: string, ops: Record<string, unknown>, scalar?: Record<string, unknown>): Selector {
  const each = Object.fromEntries(Object.entries(ops).map(([o, a]) => [o, SUB_SELECTORS.has(o) && isPlainObject(a) ? subSelector(a) : a]));
  const first = emit(and([parseCondition(field, { $type: 'array', $gte: [[]] }), parseCondition(`${field}.0`, ops)]));
  // (A `null` element decides too, wherever it is.)
  const nulls = { [field]: { $type: 'array', $in: [null] } };
  const held = nullMatches(ops);
  return anyOf([
    { [field]: { $type: 'array', $lt: [[]], ...(scalar ?? { [op]: each }) } },
    op === '$elemMatch' || held ? first : allOf(first, { $nor: [nulls] }),
    ...(op === '$elemMatch' && held ? [nulls] : []),
  ]);
}

/** True when `null` passes the operators, as CouchDB compares it (the least value). */
function nullMatches(ops: Record<string, unknown>): boolean {
  return Object.entries(ops).every(([op, arg]) => {
    if (op === '$eq' || op === '$gte') return arg === null;
    if (op === '$ne' || op === '$lt') return arg !== null;
    if (op === '$in' || op === '$nin') return Array.isArray(arg) && arg.includes(null) === (op === '$in');
    if (op === '$type') return arg === 'null';
    return op === '$lte' || (op === '$exists' && arg === true);
  });
}

/**
 * The selector of an `$elemMatch`/`$allMatch` (over each element: its fields, or operators on the element itself): no
 * `$and`, `$beginsWith` as a `$regex`, a field's `$ne`, `$in`/`$nin` with `null`, `$all` as at the top; negations
 * inside it are left as written.
 */
function subSelector(selector: Selector): Selector {
  const conj = new Conjunction();
  addSub(conj, selector);
  const out = conj.result();
  // Fields of an element: CouchDB finds them in objects only. pouchdb-selector-core looks them up in any element (and
  // fails on `null`) unless the array starts with an object: `$gte: {}` first, which only an object passes (objects
  // collate last), stops it before the fields; over an array starting with an object it reads `$gte` as a field of
  // each element, whose condition `{}` always holds.
  return fieldsIn(out) && !('$gte' in out) ? { $gte: {}, ...out } : out;
}

/** True when a sub-selector names fields of the element (also in its `$or`/`$nor`). */
const fieldsIn = (selector: Selector): boolean =>
  Object.entries(selector).some(([k, v]) => !k.startsWith('$') || ((k === '$or' || k === '$nor') && list(v).some((s) => isPlainObject(s) && fieldsIn(s))));

function addSub(conj: Conjunction, selector: Selector): void {
  for (const [name, arg] of Object.entries(selector)) {
    if (name === '$and') for (const part of list(arg).filter(isPlainObject)) addSub(conj, part);
    else if (name === '$or') conj.or(list(arg).filter(isPlainObject).map(subSelector));
    else if (name === '$nor') for (const s of list(arg).filter(isPlainObject)) conj.not(subSelector(s));
    else if (name === '$not') conj.not(subSelector(isPlainObject(arg) ? arg : {}));
    else if (name === '$beginsWith' && typeof arg === 'string') conj.out.$regex = `^${escapeRegex(arg)}`;
    else if (name.startsWith('$')) conj.out[name] = SUB_SELECTORS.has(name) && isPlainObject(arg) ? subSelector(arg) : arg;
    else if (!isPlainObject(arg)) conj.field(name, { $eq: arg });
    else addSubField(conj, name, arg);
  }
}

/** A field's condition inside a sub-selector, rewritten as at the top (see {@link addTerm}). */
function addSubField(conj: Conjunction, name: string, cond: Record<string, unknown>): void {
  const out: Record<string, unknown> = {};
  for (const [op, arg] of Object.entries(cond)) {
    if (op === '$ne') {
      // CouchDB's `$ne` never holds for a missing field, and compares an array whole.
      out.$exists = true;
      if (Array.isArray(arg)) conj.or([{ [name]: { $lt: arg } }, { [name]: { $gt: arg } }]);
      else out.$ne = arg;
    } else if (nullMisread(op, arg)) conj.or([{ [name]: { $type: 'null' } }, { [name]: { [op]: arg } }]);
    else if (op.startsWith('$')) {
      const alternatives = engineOps(op, arg);
      if (alternatives.length > 1) conj.or(alternatives.map((o) => ({ [name]: o })));
      else Object.assign(out, alternatives[0]);
    } else out[op] = arg;
  }
  if (Object.keys(out).length > 0 || Object.keys(cond).length === 0) conj.field(name, out);
}

/**
 * pouchdb-find's `explain` failing on a query whose index range starts after it ends ("reading 'startkey'": its own
 * `find` answers such a query with no documents before any plan is returned).
 */
export const emptyRange = (error: unknown): boolean => error instanceof TypeError && /'startkey'/.test(error.message);

const serverCache = new WeakMap<Selector, Selector>();

/**
 * A value of an `$in`, `$nin` or `$all` list CouchDB 3.4.3 fails on (500 `function_clause`) once the database has a
 * json index, as every SDK database has: `null` or an array.
 */
const crashes = (v: unknown): boolean => v === null || Array.isArray(v);
const LISTS = new Set(['$in', '$nin', '$all']);

/**
 * The selector as sent to CouchDB: the same meaning, without what CouchDB 3.4.3 fails on — `null` or an array in an
 * `$in`, `$nin` or `$all` list, and a `$gt` after an equality at its own value ({@link gtFirst}). Its own
 * `$elemMatch: { $eq }` matches each such value as those operators do: an array field by its elements (`$all: [A]`, A
 * an array, also when the field equals A), any other by its value. A field's `$and`/`$or`/`$nor` is moved above the
 * field (as CouchDB normalises it) to be rewritten too. The same object for the same selector.
 */
export function forServer(selector: Selector): Selector {
  let out = serverCache.get(selector);
  if (!out) serverCache.set(selector, (out = gtFirst(serverSelector(selector))));
  return out;
}

/**
 * CouchDB 3.4 narrows an index's range by the top-level conditions in their order and fails (500 `function_clause`)
 * on a `$gt` after an equality at its own value (`{ $eq: 'a', $gt: 'a' }`, or `$gte` and `$lte` at it: nothing
 * matches). Read first, a `$gt` has nothing to fail on: where a field has one beside other top-level conditions, its
 * `$gt`s (and `$not: { $lte }`, which CouchDB reads as one) lead a top-level `$and` of them all.
 */
function gtFirst(selector: Selector): Selector {
  const parts: Selector[] = [];
  const split = (s: Selector): void => {
    for (const [name, arg] of Object.entries(s)) {
      const ops = isPlainObject(arg) && !name.startsWith('$') ? Object.keys(arg) : [];
      if (name === '$and' && list(arg).length > 0 && list(arg).every(isPlainObject)) list(arg).forEach((part) => split(part as Selector));
      // (`$nor: [a, b]` is `$nor: [a]` and `$nor: [b]`: each a part, so that one of a `$lte` is seen as the `$gt` it is.)
      else if (name === '$nor' && list(arg).length > 1 && list(arg).every(isPlainObject)) for (const part of list(arg)) parts.push({ $nor: [part] });
      else if (ops.length > 0 && ops.every((op) => op.startsWith('$'))) for (const op of ops) parts.push({ [name]: { [op]: (arg as Selector)[op] } });
      else parts.push({ [name]: arg });
    }
  };
  split(selector);
  const gtOn = (part: Selector): string | undefined => {
    const [name, arg] = Object.entries(part)[0]!;
    // `$not: { f: { $lte } }` and `$nor: [{ f: { $lte } }]` are read as a `$gt` by CouchDB.
    const negated = name === '$not' ? arg : name === '$nor' && list(arg).length === 1 ? list(arg)[0] : undefined;
    const [field, cond] = negated !== undefined ? (isPlainObject(negated) && Object.keys(negated).length === 1 ? Object.entries(negated)[0]! : []) : [name, arg];
    return isPlainObject(cond) && (negated !== undefined ? Object.keys(cond).join() === '$lte' : '$gt' in cond) ? field : undefined;
  };
  const gts = parts.filter((part) => gtOn(part) !== undefined);
  const fields = new Set(gts.map(gtOn));
  if (!parts.some((part) => !gts.includes(part) && fields.has(Object.keys(part)[0]))) return selector;
  return { $and: [...gts, ...parts.filter((part) => !gts.includes(part))] };
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
