/**
 * CouchDB 3.4's rules for which documents a Mango selector matches and in which order they come (apache/couchdb
 * `src/mango/src/mango_selector.erl`, `mango_doc.erl`, `mango_json.erl`, `src/couch/src/couch_ejson_compare.erl`), so
 * that the emulator's `_find` answers what the server answers, not what pouchdb-find would:
 * - values compare by CouchDB's view collation: `null < false < true < numbers < strings < arrays < objects`; strings
 *   by ICU's root collation at tertiary strength (`'apple' < 'Apple' < 'banana'`), arrays element by element, objects
 *   key (collated) then value, pair by pair. `_id` alone compares raw: strings by their UTF-8 bytes.
 * - the selector is normalized as CouchDB does it (implicit `$and`, `$eq` for a bare value, field names pushed down to
 *   the conditions, `$not`/`$nor` pushed down to them too: `$not: { a: { $gt: 1 } }` is `{ a: { $lte: 1 } }`), then a
 *   condition on a field holds only where the field is found: a missing field satisfies `$exists: false` alone, and a
 *   path through `null` or a scalar (or past an array's end) satisfies nothing, not even `$exists: false`.
 * - `$regex` runs on the string's UTF-8 bytes, as Erlang's `re` does without its `unicode` option (`^.$` does not match
 *   `é`, `^..$` does), and reads as PCRE (compiled without options) where JavaScript's RegExp reads otherwise in what
 *   both accept: `$` also matches before a final `\n`, `.` matches anything but `\n` (`\r` too), a `]` first in a
 *   class is a literal ({@link pcreRegex}). The rest of the dialect is JavaScript's (`\A`, `\z`, `\Q…\E` and POSIX
 *   classes are read otherwise, `(?i)` does not compile; the SDK refuses them before any request).
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Obj = { [key: string]: Json };
/** A normalized selector: one operator or one field per node, as `mango_selector:normalize/1` leaves it. */
export type Node =
  | { op: '$and' | '$or' | '$nor'; args: Node[] }
  | { op: '$not' | '$elemMatch' | '$allMatch' | '$keyMapMatch'; arg: Node }
  | { op: string; value: unknown }
  | { field: string[]; cond: Node };

const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

// ICU's root locale ("und"); CLDR's English tailoring is the root one, so either resolves to the same order.
const collator = new Intl.Collator('und', { usage: 'sort', sensitivity: 'variant' });

const rank = (v: unknown): number =>
  v === null ? 0 : v === false ? 1 : v === true ? 2 : typeof v === 'number' ? 3 : typeof v === 'string' ? 4 : Array.isArray(v) ? 5 : 6;

/** CouchDB's view collation of two JSON values (`couch_ejson_compare:less/2`): negative, 0 or positive. */
export function collate(a: unknown, b: unknown): number {
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  if (ra === 3) return (a as number) - (b as number);
  if (ra === 4) return a === b ? 0 : collator.compare(a as string, b as string);
  if (ra === 5) {
    const x = a as unknown[];
    const y = b as unknown[];
    for (let i = 0; i < x.length && i < y.length; i++) {
      const c = collate(x[i], y[i]);
      if (c !== 0) return c;
    }
    return x.length - y.length;
  }
  if (ra === 6) {
    const x = Object.entries(a as Obj);
    const y = Object.entries(b as Obj);
    for (let i = 0; i < x.length && i < y.length; i++) {
      const c = collator.compare(x[i]![0], y[i]![0]) || collate(x[i]![1], y[i]![1]);
      if (c !== 0) return c;
    }
    return x.length - y.length;
  }
  return 0;
}

/** Code-point order, which is the order of the UTF-8 bytes (JavaScript's `<` orders UTF-16 code units). */
export function compareBytes(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x - y;
  }
  return a.length - b.length;
}

/**
 * Erlang's term order, which `_id` conditions use (`mango_json:cmp_raw/2`): numbers < atoms (`false < null < true`)
 * < objects < arrays < strings; strings by bytes.
 */
function compareRaw(a: unknown, b: unknown): number {
  const order = (v: unknown) => (typeof v === 'number' ? 0 : v === null || typeof v === 'boolean' ? 1 : isObject(v) ? 2 : Array.isArray(v) ? 3 : 4);
  const ra = order(a);
  const rb = order(b);
  if (ra !== rb) return ra - rb;
  if (ra === 0) return (a as number) - (b as number);
  if (ra === 1) return String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0;
  if (ra === 4) return compareBytes(a as string, b as string);
  // An object is `{Props}`, its list of `{Key, Value}` pairs; lists compare element by element, shorter first.
  const x = ra === 2 ? Object.entries(a as Obj) : (a as unknown[]);
  const y = ra === 2 ? Object.entries(b as Obj) : (b as unknown[]);
  for (let i = 0; i < x.length && i < y.length; i++) {
    const c = compareRaw(x[i], y[i]);
    if (c !== 0) return c;
  }
  return x.length - y.length;
}

/** A field name's path: split at the dots a backslash does not escape (`mango_util:parse_field/1`). */
export function parseField(field: string): string[] {
  if (!field.includes('\\')) return field.split('.');
  return field.split(/(?<!\\)\./).map((part) => part.replace(/\\/g, ''));
}

/**
 * A field name with an empty part (`a.`, `.a`, `a..b`, or `{"a": {"": 1}}`, which is `a.`): CouchDB fails with
 * `400 invalid_field_name "Invalid field name: <name>"` when it reads that field of a document (`mango_doc:get_field/2`
 * parses the name then), so only once a document reaches that condition.
 */
export class InvalidFieldName extends Error {
  constructor(readonly field: string) {
    super(`Invalid field name: ${field}`);
  }
}

const NOT_FOUND = Symbol('not_found');
const BAD_PATH = Symbol('bad_path');

/** The value at `path` (`mango_doc:get_field/2`): an array is entered by a decimal index; a scalar is a bad path. */
export function getField(value: unknown, path: readonly string[]): unknown {
  let current = value;
  for (const name of path) {
    if (isObject(current)) {
      if (!Object.prototype.hasOwnProperty.call(current, name)) return NOT_FOUND;
      current = current[name];
    } else if (Array.isArray(current)) {
      if (!/^[+-]?\d+$/.test(name)) return BAD_PATH;
      const i = Number(name);
      if (i < 0 || i >= current.length) return BAD_PATH;
      current = current[i];
    } else return BAD_PATH;
  }
  return current;
}
/** Whether `getField` found a value. */
export const found = (v: unknown) => v !== NOT_FOUND && v !== BAD_PATH;

const COMBINATORS = new Set(['$and', '$or', '$nor']);
const SUB_SELECTORS = new Set(['$elemMatch', '$allMatch', '$keyMapMatch']);

/** `norm_ops` then `norm_fields`: explicit operators, one per node, with field paths down to the conditions. */
function normFields(selector: unknown, path: string[]): Node {
  if (!isObject(selector) || Object.keys(selector).length === 0) return { field: path, cond: { op: '$eq', value: selector } };
  const entries = Object.entries(selector);
  if (entries.length > 1) return { op: '$and', args: entries.map(([k, v]) => normFields({ [k]: v }, path)) };
  const [key, value] = entries[0]!;
  if (COMBINATORS.has(key)) return { op: key as '$and', args: (value as unknown[]).map((s) => normFields(s, path)) };
  if (key === '$not') return { op: '$not', arg: normFields(value, path) };
  // The sub-selector applies to each element (key) itself: its own fields start from there.
  if (SUB_SELECTORS.has(key)) return { field: path, cond: { op: key, arg: normFields(value, []) } as Node };
  if (key.startsWith('$')) return { field: path, cond: { op: key, value } };
  return normFields(value, [...path, ...parseField(key)]);
}

const NEGATED: Record<string, string> = { $lt: '$gte', $lte: '$gt', $eq: '$ne', $ne: '$eq', $gte: '$lt', $gt: '$lte', $in: '$nin', $nin: '$in' };

/** `norm_negations`: `$not` and `$nor` pushed down to the conditions (De Morgan; operators negated where they can be). */
function normNegations(node: Node): Node {
  if ('field' in node) return node;
  if (node.op === '$not') return negate((node as { arg: Node }).arg);
  if (node.op === '$nor') return { op: '$and', args: (node as { args: Node[] }).args.map(negate) };
  if (node.op === '$and' || node.op === '$or') return { op: node.op, args: (node as { args: Node[] }).args.map(normNegations) };
  return node;
}

function negate(node: Node): Node {
  if ('field' in node) return { field: node.field, cond: negate(node.cond) };
  const { op } = node;
  if (op === '$not') return normNegations((node as { arg: Node }).arg);
  if (op === '$nor') return { op: '$or', args: (node as { args: Node[] }).args.map(normNegations) };
  if (op === '$and') return { op: '$or', args: (node as { args: Node[] }).args.map(negate) };
  if (op === '$or') return { op: '$and', args: (node as { args: Node[] }).args.map(negate) };
  const value = (node as { value?: unknown }).value;
  if (op in NEGATED) return { op: NEGATED[op]!, value };
  if (op === '$exists') return { op, value: !value };
  return { op: '$not', arg: node };
}

/** The selector as CouchDB normalizes it; `null` for the empty selector (it matches every document). */
export function normalize(selector: Record<string, unknown>): Node | null {
  if (Object.keys(selector).length === 0) return null;
  return normNegations(normFields(selector, []));
}

type Cmp = (a: unknown, b: unknown) => number;

/** Erlang's `==` on JSON terms (`lists:member/2` is `=:=`, the same on what JSON decodes to, numbers aside). */
function sameTerm(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((v, i) => sameTerm(v, b[i]));
  if (isObject(a) && isObject(b)) {
    const x = Object.entries(a);
    const y = Object.entries(b);
    return x.length === y.length && x.every(([k, v], i) => y[i]![0] === k && sameTerm(v, y[i]![1]));
  }
  return false;
}

/** A `$regex` pattern compiled for {@link pcreTest}: `dollar` when it holds a `$` anchor. */
type PcreRegex = { re: RegExp; dollar: boolean };

/**
 * The pattern (over bytes: see {@link byteRegex}) as a JavaScript RegExp that reads it as PCRE does, outside escapes:
 * `.` is `[^\n]` (JavaScript's `.` also excludes `\r`); a `]` first in a class (after its `^`, if any) is a literal
 * (`[]a]`; JavaScript reads `[]` as an empty class), so `[]` alone is left open and refused, as PCRE refuses it.
 * `$` is left as it is, and {@link pcreTest} reads it as PCRE's: a lookahead (`(?=\n?$)`) would say the same, but
 * would keep V8 from falling back to its linear engine on a pattern that backtracks (guard.ts).
 */
export function pcreRegex(pattern: string): PcreRegex {
  let source = '';
  let dollar = false;
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '\\') {
      source += pattern.slice(i, i + 2);
      i++;
    } else if (inClass) {
      inClass = ch !== ']';
      source += ch;
    } else if (ch === '[') {
      inClass = true;
      source += ch;
      if (pattern[i + 1] === '^') source += pattern[++i];
      if (pattern[i + 1] === ']') {
        source += '\\]';
        i++;
      }
    } else {
      if (ch === '$') dollar = true;
      source += ch === '.' ? '[^\\n]' : ch;
    }
  }
  return { re: new RegExp(source), dollar };
}

/**
 * PCRE's `$` (no multiline): at the end, or before a final `\n`. A match whose `$` falls before the final `\n` is
 * a match of the subject without it, where JavaScript's `$` falls there; and a match of that shorter subject is one of
 * the whole (it only ends earlier: `\b`/`\B` read the `\n` as they read the end; lookarounds are refused, guard.ts).
 * So two runs are PCRE's answer —
 * but for a `$` followed by more pattern that reads the final `\n` itself (`a$\n`), which this reads as JavaScript.
 */
function pcreTest({ re, dollar }: PcreRegex, subject: string): boolean {
  return re.test(subject) || (dollar && subject.endsWith('\n') && re.test(subject.slice(0, -1)));
}

const regexes = new Map<string, PcreRegex | null>();
const latin1 = (s: string) => Buffer.from(s, 'utf8').toString('latin1');
/**
 * The pattern compiled over UTF-8 bytes (each byte one character), as Erlang's `re` runs a binary pattern; `null`
 * where it does not compile (`_find` refuses it: {@link compilesAsPcre}).
 */
function byteRegex(pattern: string): PcreRegex | null {
  let re = regexes.get(pattern);
  if (re === undefined) {
    try {
      re = pcreRegex(latin1(pattern));
    } catch {
      re = null;
    }
    if (regexes.size > 1_000) regexes.clear();
    regexes.set(pattern, re);
  }
  return re;
}

/** Whether a `$regex` pattern compiles as the matcher reads it (`mango_selector:norm_ops/1` refuses it otherwise). */
export const compilesAsPcre = (pattern: string): boolean => byteRegex(pattern) !== null;

/** `mango_selector:match/3`: `value` against a normalized node. */
function match(node: Node, value: unknown, cmp: Cmp): boolean {
  if ('field' in node) {
    // A lone empty name (`{"$and": [{"": 1}]}`) reads as no field, which CouchDB answers without failing.
    if (node.field.length > 1 && node.field.includes('')) throw new InvalidFieldName(node.field.join('.'));
    const sub = getField(value, node.field);
    if (sub === NOT_FOUND) return 'op' in node.cond && node.cond.op === '$exists' && (node.cond as { value: unknown }).value === false;
    if (sub === BAD_PATH) return false;
    return match(node.cond, sub, node.field.length === 1 && node.field[0] === '_id' ? compareRaw : cmp);
  }
  const arg = (node as { value?: unknown }).value;
  switch (node.op) {
    case '$and':
      return (node as { args: Node[] }).args.every((n) => match(n, value, cmp));
    case '$or': {
      const args = (node as { args: Node[] }).args;
      return args.length === 0 || args.some((n) => match(n, value, cmp));
    }
    case '$nor':
      // Only inside a sub-selector (normalized away elsewhere), where CouchDB 3.4's match/3 has no clause for it: it
      // never holds (measured: `$elemMatch: { $nor: [...] }` matches nothing).
      return false;
    case '$not':
      return !match((node as { arg: Node }).arg, value, cmp);
    case '$all': {
      const args = arg as unknown[];
      if (args.length === 0 || !Array.isArray(value)) return false;
      const [only] = args;
      return args.every((a) => value.some((v) => sameTerm(v, a))) || (args.length === 1 && Array.isArray(only) && sameTerm(only, value));
    }
    case '$elemMatch': {
      const sub = (node as { arg: Node }).arg;
      return Array.isArray(value) && value.some((v) => match(sub, v, cmp));
    }
    case '$allMatch': {
      const sub = (node as { arg: Node }).arg;
      return Array.isArray(value) && value.length > 0 && value.every((v) => match(sub, v, cmp));
    }
    case '$keyMapMatch': {
      const sub = (node as { arg: Node }).arg;
      return isObject(value) && Object.keys(value).some((k) => match(sub, k, cmp));
    }
    case '$lt':
      return cmp(value, arg) < 0;
    case '$lte':
      return cmp(value, arg) <= 0;
    case '$eq':
      return cmp(value, arg) === 0;
    case '$ne':
      return cmp(value, arg) !== 0;
    case '$gte':
      return cmp(value, arg) >= 0;
    case '$gt':
      return cmp(value, arg) > 0;
    case '$in': {
      const args = arg as unknown[];
      if (Array.isArray(value)) return args.some((a) => value.some((v) => cmp(v, a) === 0));
      return args.some((a) => cmp(value, a) === 0);
    }
    case '$nin': {
      const args = arg as unknown[];
      if (Array.isArray(value)) return args.length === 0 || !args.some((a) => value.some((v) => cmp(v, a) === 0));
      return args.every((a) => cmp(value, a) !== 0);
    }
    case '$exists':
      return arg === true;
    case '$type':
      return arg === typeName(value);
    case '$mod': {
      const [d, r] = arg as [number, number];
      // An integer to Erlang is a JSON number written without a fraction or exponent: JSON.stringify writes one from
      // 1e21 up with an exponent.
      return Number.isInteger(value) && Math.abs(value as number) < 1e21 && d !== 0 && (value as number) % d === r;
    }
    case '$beginsWith':
      return typeof value === 'string' && typeof arg === 'string' && value.startsWith(arg);
    case '$regex': {
      if (typeof value !== 'string' || typeof arg !== 'string') return false;
      const re = byteRegex(arg);
      return re !== null && pcreTest(re, latin1(value));
    }
    case '$size':
      return Array.isArray(value) && value.length === arg;
    default:
      return false;
  }
}

/** `mango_json:type/1`. */
const typeName = (v: unknown) =>
  v === null ? 'null' : typeof v === 'boolean' ? 'boolean' : typeof v === 'number' ? 'number' : typeof v === 'string' ? 'string' : Array.isArray(v) ? 'array' : 'object';

/** Whether `doc` matches the normalized selector (`null`: the empty selector, which matches everything). */
export function matches(node: Node | null, doc: unknown): boolean {
  return node === null || match(node, doc, collate);
}

/** `fields` of a `_find` (`mango_fields:extract/2`): the document with only those fields, nested as they were. */
export function project(doc: Record<string, unknown>, fields: readonly string[]): Obj {
  const out: Obj = {};
  for (const field of fields) {
    const path = parseField(field);
    if (path.includes('')) throw new InvalidFieldName(field);
    const value = getField(doc, path);
    if (!found(value)) continue;
    let target = out;
    for (const name of path.slice(0, -1)) {
      const next = target[name];
      if (!isObject(next)) target[name] = {};
      target = target[name] as Obj;
    }
    target[path[path.length - 1]!] = value as Json;
  }
  return out;
}

/** A normalized selector in CouchDB's JSON spelling (`_explain` shows it so): dotted fields, one operator each. */
export function selectorJson(node: Node | null): Record<string, unknown> {
  if (node === null) return {};
  if ('field' in node) return { [node.field.join('.')]: selectorJson(node.cond) };
  if ('args' in node) return { [node.op]: node.args.map(selectorJson) };
  if ('arg' in node) return { [node.op]: selectorJson(node.arg) };
  return { [node.op]: node.value };
}
