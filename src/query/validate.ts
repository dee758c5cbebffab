/**
 * Queries over stored values (`store.find`, `store.watchQuery`): their public shape, their validation (before any I/O)
 * and their translation onto the stored document layout (`{ _id, doc: value, feat: {...} }`).
 */
import { FeatValidationError, readable } from '../errors.js';
import { shown, wellFormed } from '../store/validate.js';

/** A Mango selector over the value's own fields, e.g. `{ done: false, prio: { $gte: 3 } }`. */
export type Selector = Record<string, unknown>;

/** A sort field: `'prio'` (ascending) or `{ prio: 'asc' | 'desc' }`; directions may be mixed (sorted in memory). */
export type SortField = string | Record<string, 'asc' | 'desc'>;

/** What `store.find()` and `store.watchQuery()` take. */
export interface Query {
  /** Only keys (and parts of keys) starting with this prefix. @default '' (every key) */
  prefix?: string | undefined;
  /** Mango selector over the value's own fields (never `doc.` or metadata). @default {} (every value) */
  selector?: Selector | undefined;
  /**
   * Order of the results (the SDK creates the index it needs, on first use). Values without a sort field are not in a
   * sorted result, as in CouchDB. @default by key
   */
  sort?: readonly SortField[] | undefined;
  /** The most results to return. @default every match (never CouchDB's silent 25) */
  limit?: number | undefined;
  /** Matches to skip first. @default 0 */
  skip?: number | undefined;
}

/** One match: the key (for a part, the key and its subkey) and its value. */
export interface QueryResult<T = unknown> {
  key: string;
  subkey?: string;
  value: T;
}

/** A query, checked and translated onto the stored documents. */
export interface PlannedQuery {
  prefix: string;
  /** The app's selector with every field under `doc.` (and the sort fields required to exist). */
  selector: Selector;
  /** Sort fields under `doc.`, each with its direction (mixed directions are sorted in memory: see find.ts). */
  sort: { field: string; desc: boolean }[];
  limit: number | undefined;
  skip: number;
}

/** An index of the value's fields: `store.createIndex()` and the client's `indexes` option. */
export interface IndexSpec {
  /** The value's field names (dotted for nested fields, e.g. `'due.day'`), in the index's order. */
  fields: readonly string[];
  /**
   * The index's name, as CouchDB's `_index` takes it (its design document is named for its fields, `_design/feat-<hash>`:
   * the same name with other fields — another build of the app — is another index).
   * @default a name derived from the fields (`feat-<hash>`)
   */
  name?: string | undefined;
}

/**
 * Checks an index (throwing `invalid_argument`, before any I/O): `{ fields: [non-empty strings, no "$"], name? }`; the
 * result is a copy (a later change of the app's object changes nothing).
 */
export const checkIndex = (index: unknown, where: string): IndexSpec => readable(() => indexOf(index, where), where);

function indexOf(index: unknown, where: string): IndexSpec {
  const shape = `${where} takes { fields: [...], name? }: a non-empty array of the value's field names, and an optional name`;
  if (!isPlainObject(index)) throw new FeatValidationError('invalid_argument', shape);
  const { fields, name } = index;
  for (const key of Object.keys(index)) if (key !== 'fields' && key !== 'name') throw new FeatValidationError('invalid_argument', `${shape} (unknown field "${key}")`);
  if (!Array.isArray(fields) || fields.length === 0 || !all(fields, (f) => typeof f === 'string' && f !== '' && !f.startsWith('$'))) {
    throw new FeatValidationError('invalid_argument', shape);
  }
  if (name !== undefined && (typeof name !== 'string' || !/^[A-Za-z0-9][\w.-]{0,99}$/.test(name))) {
    throw new FeatValidationError('invalid_argument', `${where}: "name" must be 1 to 100 letters, digits, "_", "-" or ".", starting with a letter or digit`);
  }
  return name === undefined ? { fields: [...(fields as string[])] } : { fields: [...(fields as string[])], name };
}

const COMBINATORS = new Set(['$and', '$or', '$nor']);
const ANY_VALUE = new Set(['$eq', '$ne', '$gt', '$gte', '$lt', '$lte']);
const ARRAYS = new Set(['$in', '$nin', '$all']);
const SUB_SELECTORS = new Set(['$elemMatch', '$allMatch']);
const TYPES = new Set(['null', 'boolean', 'number', 'string', 'array', 'object']);

/**
 * Whether `ok` holds for every element, up to the first it fails for — a sparse array's holes included, as `undefined`
 * (`every` and `forEach` skip them; JSON.stringify writes `null`).
 */
function all(array: readonly unknown[], ok: (value: unknown, i: number) => unknown): boolean {
  for (let i = 0; i < array.length; i++) if (ok(array[i], i) === false) return false;
  return true;
}

const fail = (message: string): never => {
  throw new FeatValidationError('invalid_argument', `find(): ${message}`);
};

/** An object literal (or `Object.create(null)`, or one of another realm): not a Date, Map or class instance. */
const isPlainObject = (v: unknown): v is Record<string, unknown> => {
  const proto = typeof v === 'object' && v !== null && !Array.isArray(v) ? (Object.getPrototypeOf(v) as unknown) : 0;
  return proto === null || (proto !== 0 && Object.getPrototypeOf(proto) === null);
};

/** How deeply a selector (with the values in it) may nest; a deeper one, or a cyclic one, is refused. */
const MAX_SELECTOR_DEPTH = 64;

const deeper = (depth: number, at: string): number =>
  depth < MAX_SELECTOR_DEPTH ? depth + 1 : fail(`${at.slice(0, 120)}… is nested deeper than ${MAX_SELECTOR_DEPTH} levels (or is cyclic)`);

/**
 * Checks a value a selector compares with: JSON (JSON.stringify would drop `undefined` — `{ owner: undefined }` would
 * match everything — and turn NaN, Infinity, a Date or a Map into something else).
 */
function checkValue(value: unknown, at: string, depth: number): void {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return;
  if (typeof value === 'number') return void (Number.isFinite(value) || fail(`${at} is ${value}, which JSON cannot hold`));
  const d = deeper(depth, at);
  if (Array.isArray(value)) return void all(value, (v, i) => checkValue(v, `${at}[${i}]`, d));
  if (!isPlainObject(value)) fail(`${at} is ${value === undefined ? 'undefined' : 'not a JSON value'}`);
  for (const [name, v] of Object.entries(value as object)) checkValue(v, `${at} › ${name}`, d);
}

/**
 * Whether `value` holds an array with a `null` in it, at any depth: CouchDB 3.4 fails on such a value in a selector
 * (HTTP 500 `function_clause`, on any database with a json index — every SDK database has one), so it is refused in
 * both modes rather than meet a `server` error a live query would retry forever. (`null` itself, and `null` in the
 * list of `$in`/`$nin`/`$all`, are fine.)
 */
const holdsNullArray = (value: unknown): boolean =>
  Array.isArray(value) ? value.some((v) => v === null || holdsNullArray(v)) : isPlainObject(value) && Object.values(value).some(holdsNullArray);

const NULL_ARRAY = 'holds an array with null in it, which CouchDB 3.4 cannot compare (HTTP 500); match its elements instead (e.g. $elemMatch: { $eq: null })';

/** Checks a selector at the level of whole values (`top`) or of one field's value (operators apply to it). */
function checkSelector(selector: unknown, where: string, field: boolean, depth = 0): void {
  if (!isPlainObject(selector)) fail(`${where} must be an object (a Mango selector)`);
  const d = deeper(depth, where);
  for (const [name, arg] of Object.entries(selector as Record<string, unknown>)) {
    const at = `${where} › ${name}`;
    if (!name.startsWith('$')) {
      if (name === '') fail(`${where} names an empty field`);
      if (isPlainObject(arg)) checkSelector(arg, at, true, d);
      else checkValue(arg, at, d);
      if (holdsNullArray(arg) && !isPlainObject(arg)) fail(`${at} ${NULL_ARRAY}`);
      continue;
    }
    if (COMBINATORS.has(name)) {
      if (!Array.isArray(arg) || arg.length === 0) fail(`${at} takes a non-empty array of selectors`);
      all(arg as unknown[], (s, i) => {
        // Under a field, a value in the list is an equality (CouchDB reads `{ x: { $or: [1, { $gt: 2 }] } }` so).
        if (field && !isPlainObject(s)) {
          checkValue(s, `${at}[${i}]`, d);
          if (holdsNullArray(s)) fail(`${at}[${i}] ${NULL_ARRAY}`);
        } else checkSelector(s, `${at}[${i}]`, field, d);
      });
    } else if (name === '$not') {
      checkSelector(arg, at, field, d);
    } else if (!field) {
      fail(`unknown operator "${name}" at ${where} (field names do not start with "$"; operators: $and $or $nor $not at this level)`);
    } else if (ANY_VALUE.has(name)) {
      checkValue(arg, at, d);
      if (holdsNullArray(arg)) fail(`${at} ${NULL_ARRAY}`);
    } else if (ARRAYS.has(name)) {
      if (!Array.isArray(arg)) fail(`${at} takes an array`);
      checkValue(arg, at, d);
      if ((arg as unknown[]).some(holdsNullArray)) fail(`${at} ${NULL_ARRAY}`);
    } else if (name === '$exists') {
      if (typeof arg !== 'boolean') fail(`${at} takes true or false`);
    } else if (name === '$type') {
      if (typeof arg !== 'string' || !TYPES.has(arg)) fail(`${at} takes one of ${[...TYPES].join(', ')}`);
    } else if (name === '$size') {
      if (!Number.isInteger(arg) || (arg as number) < 0) fail(`${at} takes a non-negative integer`);
    } else if (name === '$mod') {
      const ok = Array.isArray(arg) && arg.length === 2 && Number.isInteger(arg[0]) && Number.isInteger(arg[1]) && arg[0] !== 0;
      if (!ok) fail(`${at} takes [divisor, remainder], integers, the divisor not 0`);
    } else if (name === '$regex') {
      if (typeof arg !== 'string') fail(`${at} takes a regular expression as a string`);
      try {
        new RegExp(arg as string);
      } catch (cause) {
        throw new FeatValidationError('invalid_argument', `find(): ${at} is not a valid regular expression`, { cause });
      }
      // What the two engines (JavaScript's here, CouchDB's PCRE) read otherwise: `\u0041`, `[^]` and `[]` (PCRE
      // refuses them), `\x{41}`, `\p{L}`, `\A`, `\h`… (JavaScript reads a letter), POSIX classes `[[:alpha:]]`:
      // refused, so both modes agree.
      const escape = /\\(?![dDwWsSbBnrtf]|x[\da-fA-F]{2})[a-zA-Z]/.exec((arg as string).replace(/\\[^a-zA-Z]/g, '_'))?.[0];
      if (escape !== undefined) {
        fail(
          `${at}: the escape "${escape}" is refused, because CouchDB's PCRE and JavaScript read it differently (of escaped ` +
            `letters, only \\d \\D \\w \\W \\s \\S \\b \\B \\n \\r \\t \\f and \\xHH read alike); write the character itself ` +
            `(A for \\u0041), a class spelled out (e.g. [A-Za-z] for \\p{L}) or ^ for \\A instead, or use $beginsWith for a prefix`,
        );
      }
      const bracket = readsOtherwise(arg as string);
      if (bracket !== undefined) {
        fail(
          `${at}: "${bracket}" is refused, because CouchDB's PCRE and JavaScript read it differently; write a "]" inside a ` +
            `class as \\], and spell a POSIX class out (e.g. [A-Za-z] for [[:alpha:]])`,
        );
      }
    } else if (name === '$beginsWith') {
      // CouchDB 3.4: a UTF-8 string (its bad_arg otherwise); matches the string values that start with it.
      if (typeof arg !== 'string' || !wellFormed(arg)) fail(`${at} takes a string (without lone UTF-16 surrogates)`);
    } else if (name === '$keyMapMatch') {
      // The replica's engine (and the matcher of this client's pending writes, in both modes) lacks it: a query that
      // would answer on the server only while nothing is pending is refused instead.
      fail(`${at}: $keyMapMatch is not supported (the local engine lacks it); store the map's keys in an array and use $elemMatch or $all`);
    } else if (SUB_SELECTORS.has(name)) {
      checkSelector(arg, at, true, d);
    } else {
      fail(`unknown operator "${name}" at ${where} (supported: $eq $ne $gt $gte $lt $lte $in $nin $all $exists $type $size $mod $regex $beginsWith $elemMatch $allMatch $and $or $nor $not)`);
    }
  }
}

/**
 * The selector with every field of the value moved under `doc.`, in CouchDB's normal form (its `mango_selector`): a
 * field's object without operators names nested fields (`{ a: { b: 1 } }` is `{ 'a.b': 1 }`, beside the object's
 * operators, if any), and an array or an empty object is an equality. pouchdb-find reads the nested form itself only
 * where every value has an object at that field: one `null` there made it fail. Operators' own arguments are left as
 * they are.
 */
function underDoc(selector: Selector): Selector {
  const out: Selector = {};
  const more: Selector[] = [];
  const add = (name: string, cond: unknown) => {
    if (name in out) more.push({ [name]: cond });
    else out[name] = cond;
  };
  const addField = (field: string, arg: unknown): void => {
    if (Array.isArray(arg)) return add(field, { $eq: arg });
    if (!isPlainObject(arg)) return add(field, arg);
    const entries = Object.entries(arg);
    if (entries.length === 0) return add(field, { $eq: {} });
    const operators = entries.filter(([name]) => name.startsWith('$'));
    if (operators.length > 0) add(field, Object.fromEntries(operators));
    for (const [name, value] of entries) if (!name.startsWith('$')) addField(`${field}.${name}`, value);
  };
  for (const [name, arg] of Object.entries(selector)) {
    if (COMBINATORS.has(name)) add(name, (arg as Selector[]).map(underDoc));
    else if (name === '$not') add(name, underDoc(arg as Selector));
    else addField(`doc.${name}`, arg);
  }
  if (more.length > 0) out.$and = [...((out.$and as Selector[] | undefined) ?? []), ...more];
  return out;
}

function checkCount(value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isSafeInteger(value) || (value as number) < 0) fail(`"${name}" must be a non-negative integer`);
  return value as number;
}

/**
 * Checks a query (throwing `invalid_argument`, before any I/O; a getter or a Proxy that throws too) and translates it
 * onto the stored documents.
 */
export const planQuery = (query: unknown): PlannedQuery => readable(() => plan(query), 'find(): the query');

function plan(query: unknown): PlannedQuery {
  if (!isPlainObject(query)) fail('takes a query object: { prefix?, selector?, sort?, limit?, skip? }');
  const q = query as Record<string, unknown>;
  for (const name of Object.keys(q)) {
    if (!['prefix', 'selector', 'sort', 'limit', 'skip'].includes(name)) fail(`unknown query field "${name}" (prefix, selector, sort, limit, skip)`);
  }
  // (Absent or `undefined` only: a `null` is a malformed query, not "every value".)
  const prefix = q.prefix === undefined ? '' : q.prefix;
  if (typeof prefix !== 'string' || !wellFormed(prefix)) fail('"prefix" must be a string without lone UTF-16 surrogates');
  const selector = q.selector === undefined ? {} : q.selector;
  checkSelector(selector, 'selector', false);
  const sortIn = q.sort === undefined ? [] : q.sort;
  if (!Array.isArray(sortIn)) fail('"sort" must be an array of field names or { field: "asc" | "desc" }');
  const sort: PlannedQuery['sort'] = [];
  all(sortIn as unknown[], (item) => {
    if (typeof item === 'string' && item !== '') return void sort.push({ field: `doc.${item}`, desc: false });
    const entries = isPlainObject(item) ? Object.entries(item) : [];
    const [entry] = entries;
    if (entries.length !== 1 || entry![0] === '' || (entry![1] !== 'asc' && entry![1] !== 'desc')) {
      fail(`sort entry ${shown(item)} must be a field name or { field: "asc" | "desc" }`);
    }
    sort.push({ field: `doc.${entry![0]}`, desc: entry![1] === 'desc' });
  });
  const limit = checkCount(q.limit, 'limit');
  const skip = checkCount(q.skip, 'skip') ?? 0;
  const mapped = underDoc(selector as Selector);
  // A sorted query runs on an index of its sort fields, which holds only the values that have them. Said beside a
  // condition of operators too: pouchdb-find takes the index for a sort only on a field it finds at the top (a
  // `$nin`, `$elemMatch`… is rewritten into an `$or` for it: engine.ts).
  for (const s of sort) {
    const cond = mapped[s.field];
    if (cond === undefined) mapped[s.field] = { $exists: true };
    else if (isPlainObject(cond) && Object.keys(cond).every((op) => op.startsWith('$')) && !('$exists' in cond)) mapped[s.field] = { ...cond, $exists: true };
  }
  return { prefix: prefix as string, selector: mapped, sort, limit, skip };
}

/**
 * A character class that opens empty (`[]`, `[^]`) or holds a POSIX class (`[:`, `[.`, `[=`): read otherwise by PCRE.
 * Returns that piece of the pattern, else `undefined`.
 */
function readsOtherwise(pattern: string): string | undefined {
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') i++;
    else if (!inClass && c === '[') {
      inClass = true;
      const start = i;
      if (pattern[i + 1] === '^') i++;
      if (pattern[i + 1] === ']') return pattern.slice(start, i + 2);
    } else if (inClass && c === '[' && /[:.=]/.test(pattern[i + 1] ?? '')) return pattern.slice(i, i + 2);
    else if (inClass && c === ']') inClass = false;
  }
  return undefined;
}
