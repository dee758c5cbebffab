/**
 * CouchDB 3.4's query planning as far as the emulator shows it (src/mango/src/mango_cursor.erl, mango_idx_view.erl,
 * mango_selector.erl): the normalized selector, which fields an index can serve, which indexes are usable and why not,
 * and the `_explain` answer built from them. pouchdb-find plans the query and mango-match.ts answers it (mango.ts); this
 * decides what CouchDB would report, and which json index it would pick where pouchdb-find's choice differs.
 */

/** An index as `GET _index` lists it. */
export interface IndexInfo {
  ddoc: string | null;
  name: string;
  type: string;
  def: { fields: Record<string, string>[]; partial_filter_selector?: unknown };
}

import { collate, normalize, selectorJson } from './mango-match.js';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** CouchDB's spelling of the end of a range (`?MAX_JSON_OBJ`) in `_explain`. */
const MAX = '<MAX>';
/** Operators an index can serve (`mango_idx_view:indexable/1`). */
const INDEXABLE = new Set(['$eq', '$gt', '$gte', '$lt', '$lte', '$beginsWith', '$exists']);

/** The selector with each field's sub-object of plain fields (no operator) spelled as dotted fields. */
export function dottedFields(selector: Json, prefix = ''): Json {
  const out: Json = {};
  for (const [key, value] of Object.entries(selector)) {
    if (key.startsWith('$')) out[key] = Array.isArray(value) ? value.map((s) => (isObject(s) ? dottedFields(s) : s)) : isObject(value) && key === '$not' ? dottedFields(value) : value;
    else if (isObject(value) && Object.keys(value).length > 0 && Object.keys(value).every((k) => !k.startsWith('$'))) Object.assign(out, dottedFields(value, `${prefix}${key}.`));
    else out[prefix + key] = value;
  }
  return out;
}

/** The selector as CouchDB echoes it (`mango_selector:normalize`): dotted fields, `$eq` explicit, several as `$and`. */
export function normalizeSelector(selector: Json): Json {
  return selectorJson(normalize(selector));
}

/** The top-level conditions, through nested `$and`s (an implicit `$and` inside a field's conditions stays one). */
const top = (normalized: Json): Json[] =>
  Array.isArray(normalized.$and) ? (normalized.$and as Json[]).flatMap((c) => (isObject(c) ? top(c) : [])) : Object.keys(normalized).length ? [normalized] : [];

/** Every field the selector names (`mango_selector:fields`). */
function fieldsOf(normalized: Json, into = new Set<string>()): Set<string> {
  for (const [key, value] of Object.entries(normalized)) {
    if (key.startsWith('$')) {
      if (Array.isArray(value)) for (const s of value) if (isObject(s)) fieldsOf(s, into);
      if (isObject(value)) fieldsOf(value, into);
    } else into.add(key);
  }
  return into;
}

/** The fields a json index can serve: top-level conditions (through `$and`) with an indexable operator. */
export function indexableFields(normalized: Json): string[] {
  const fields = new Set<string>();
  for (const c of top(normalized)) {
    const [field, cond] = Object.entries(c)[0] ?? [];
    if (field === undefined || field.startsWith('$') || !isObject(cond)) continue;
    const [op, arg] = Object.entries(cond)[0] ?? [];
    if (op !== undefined && INDEXABLE.has(op) && !(op === '$exists' && arg !== true)) fields.add(field);
  }
  return [...fields].sort();
}

/**
 * The fields every matching document has (`mango_selector:has_required_fields`): a condition other than
 * `$exists: false`, at the top or through `$and`; through `$or`, only the fields all its branches require.
 */
function requiredFields(normalized: Json): Set<string> {
  const out = new Set<string>();
  for (const c of top(normalized)) {
    const [field, cond] = Object.entries(c)[0] ?? [];
    if (field === undefined) continue;
    if (field === '$or' && Array.isArray(cond)) {
      const branches = cond.map((b) => requiredFields(isObject(b) ? b : {}));
      for (const f of branches[0] ?? []) if (branches.every((b) => b.has(f))) out.add(f);
    } else if (field === '$and' && Array.isArray(cond)) {
      for (const b of cond) if (isObject(b)) for (const f of requiredFields(b)) out.add(f);
    } else if (!field.startsWith('$') && !(isObject(cond) && cond.$exists === false && Object.keys(cond).length === 1)) out.add(field);
  }
  return out;
}

const columns = (index: IndexInfo) => index.def.fields.map((f) => Object.keys(f)[0]!);

interface Analysis {
  usable: boolean;
  reason: string;
  /** Usable json indexes: how many of its columns the selector serves (more is better). */
  overlap: number;
}

/** Whether CouchDB can use the index (`mango_idx_view:is_usable`): every column not sorted on is required. */
function analyse(index: IndexInfo, required: Set<string>, sort: string[], equalities: string[], named = false): Analysis {
  if (index.type === 'special') {
    const usable = sort.length === 0 || sort.every((f) => f === '_id');
    return { usable, reason: usable ? 'unfavored_type' : 'field_mismatch', overlap: 0 };
  }
  // A partial index serves only the queries that name it (`use_index`): it lacks the documents its filter leaves out.
  if (!named && isObject(index.def.partial_filter_selector) && Object.keys(index.def.partial_filter_selector).length > 0) return { usable: false, reason: 'is_partial', overlap: 0 };
  const cols = columns(index);
  if (!cols.every((c) => required.has(c) || sort.includes(c) || c === '_id' || c === '_rev')) return { usable: false, reason: 'field_mismatch', overlap: 0 };
  if (sort.length > 0 && !sort.every((f, i) => cols[i] === f)) return { usable: false, reason: 'sort_order_mismatch', overlap: 0 };
  return { usable: true, reason: '', overlap: overlap(index, equalities) };
}

/** How well an index narrows the query: its columns, those under an equality counting more (CouchDB's "distance"). */
const overlap = (index: IndexInfo, equalities: string[]) => columns(index).reduce((n, c) => n + (equalities.includes(c) ? 2 : 1), 0);

/** The fields under a top-level `$eq`. */
function equalityFields(normalized: Json): string[] {
  return top(normalized).flatMap((c) => {
    const [field, cond] = Object.entries(c)[0] ?? [];
    return field !== undefined && !field.startsWith('$') && isObject(cond) && '$eq' in cond ? [field] : [];
  });
}

/** Whether CouchDB can use the index for the query; `named`: `use_index` names it (then a partial index can serve). */
export function analyseIndex(index: IndexInfo, selector: Json, sort: string[], named = false): boolean {
  const normalized = normalizeSelector(selector);
  return analyse(index, requiredFields(normalized), sort, equalityFields(normalized), named).usable;
}

/** The usable json indexes, best first (CouchDB: most columns served, then fewer columns, then by name). */
export function usableJsonIndexes(indexes: IndexInfo[], selector: Json, sort: string[]): IndexInfo[] {
  const normalized = normalizeSelector(selector);
  const [required, equalities] = [requiredFields(normalized), equalityFields(normalized)];
  return indexes
    .map((index) => ({ index, ...analyse(index, required, sort, equalities) }))
    .filter((a) => a.index.type === 'json' && a.usable)
    .sort(better)
    .map((a) => a.index);
}

/** CouchDB's order of usable json indexes: the best overlap, then fewer columns, then by design document. */
const better = (a: { index: IndexInfo; overlap: number }, b: { index: IndexInfo; overlap: number }) =>
  b.overlap - a.overlap || columns(a.index).length - columns(b.index).length || (a.index.ddoc ?? '').localeCompare(b.index.ddoc ?? '');

/** `mango_json:min()`/`max()`: below and above every JSON value. */
const [BOTTOM, TOP] = [Symbol('min'), Symbol('max')];
const cmp = (a: unknown, b: unknown): number => (a === b ? 0 : a === BOTTOM || b === TOP ? -1 : a === TOP || b === BOTTOM ? 1 : collate(a, b));
type Bounds = [lowOp: string, low: unknown, highOp: string, high: unknown];

/** One condition narrowing a column's range, as `mango_idx_view:range/5` does it (`undefined`: empty). */
function narrow(r: Bounds, op: string, arg: unknown): Bounds | undefined {
  const [lowOp, low, highOp, high] = r;
  const at = cmp(arg, low) < 0 ? 'min' : cmp(arg, low) === 0 ? 'low' : cmp(arg, high) < 0 ? 'mid' : cmp(arg, high) === 0 ? 'high' : 'max';
  const eq: Bounds = ['$eq', arg, '$eq', arg];
  const fromLow = at === 'low' && (lowOp === '$gte' || lowOp === '$eq');
  const toHigh = at === 'high' && (highOp === '$lte' || highOp === '$eq');
  switch (op) {
    case '$lt':
      return at === 'min' || at === 'low' ? undefined : at === 'max' ? r : [lowOp, low, '$lt', arg];
    case '$lte':
      return at === 'min' ? undefined : at === 'low' ? (fromLow ? eq : undefined) : at === 'mid' ? [lowOp, low, '$lte', arg] : r;
    case '$eq':
      return at === 'mid' || fromLow || toHigh ? eq : undefined;
    case '$gte':
      return at === 'min' || at === 'low' ? r : at === 'mid' ? ['$gte', arg, highOp, high] : toHigh ? eq : undefined;
    case '$gt':
      // At an equality's own value this keeps the equality's end (`{'$gt', V, '$eq', V}`), which CouchDB cannot read.
      return at === 'min' ? r : at === 'low' || at === 'mid' ? ['$gt', arg, highOp, high] : undefined;
    default:
      return r;
  }
}

/**
 * True when CouchDB 3.4 fails on the query on this index (500 `function_clause`): the range of a column it reads the
 * end key through narrows, condition by condition, to a `$gt` at an equality's own value (`{ $eq: 'a', $gt: 'a' }`,
 * the `$gt` after the equality). The end key stops at the first column open above; no column is read after an empty
 * range.
 */
export function rangeFails(index: IndexInfo | null, selector: Json): boolean {
  const conds = top(normalizeSelector(selector));
  for (const column of index?.type === 'json' ? columns(index) : ['_id']) {
    let r: Bounds | undefined = ['$gt', BOTTOM, '$lt', TOP];
    for (const c of conds) {
      const cond = c[column];
      const [op, arg] = isObject(cond) ? (Object.entries(cond)[0] ?? []) : [];
      if (r && op !== undefined) r = narrow(r, op, arg);
    }
    if (!r || (r[2] === '$lt' && r[3] === TOP)) return false;
    if (r[2] === '$eq' && r[0] !== '$eq') return true;
  }
  return false;
}

/** An index as `_explain` and `GET _index` show it (`mango_idx:to_json`). */
export const indexJson = (index: IndexInfo) =>
  index.type === 'special'
    ? { ddoc: null, name: index.name, type: 'special', def: index.def }
    : { ddoc: index.ddoc, name: index.name, type: index.type, partitioned: false, def: index.def };

/** The range of one field over the selector's top-level conditions: `[low, lowOp, high, highOp]`, `undefined` = open. */
function range(conds: Json[], field: string) {
  let low: unknown;
  let lowOp = '$gt';
  let high: unknown;
  let highOp = '$lt';
  for (const c of conds) {
    const cond = c[field];
    if (!isObject(cond)) continue;
    const [op, arg] = Object.entries(cond)[0] ?? [];
    if (op === '$eq') [low, lowOp, high, highOp] = [arg, '$eq', arg, '$eq'];
    else if (op === '$gt' || op === '$gte') [low, lowOp] = [arg, op];
    else if (op === '$lt' || op === '$lte') [high, highOp] = [arg, op];
    else if (op === '$beginsWith' && typeof arg === 'string') [low, lowOp, high, highOp] = [arg, '$gte', `${arg}\uffff`, '$lte'];
  }
  return { low, lowOp, high, highOp };
}

/** `mrargs` of the view behind the index (`mango_cursor_view:explain`). */
function mrargs(index: IndexInfo, normalized: Json, desc: boolean, covering: boolean) {
  const conds = top(normalized);
  let start: unknown;
  let end: unknown;
  if (index.type === 'special') {
    const r = range(conds, '_id');
    start = r.low ?? null;
    end = r.high ?? MAX;
  } else {
    const ranges = columns(index).map((c) => range(conds, c));
    const startKey: unknown[] = [];
    for (const r of ranges) {
      if (r.low === undefined) break;
      startKey.push(r.low);
    }
    const endKey: unknown[] = [];
    for (const r of ranges) {
      if (r.high === undefined) {
        endKey.push(MAX);
        break;
      }
      endKey.push(r.high);
    }
    if (endKey[endKey.length - 1] !== MAX) endKey.push(MAX);
    [start, end] = [startKey, endKey];
  }
  if (desc) [start, end] = [end, start];
  return {
    include_docs: !covering,
    view_type: 'map',
    reduce: false,
    partition: null,
    start_key: start,
    end_key: end,
    direction: desc ? 'rev' : 'fwd',
    stable: false,
    update: true,
    conflicts: 'undefined',
  };
}

/** True when the index alone answers the query (`fields` given, all among its columns and `_id`). */
function covers(index: IndexInfo, fields: string[] | undefined): boolean | null {
  if (index.type === 'special') return null;
  if (!fields || fields.length === 0) return false;
  const cols = columns(index);
  return fields.every((f) => f === '_id' || cols.includes(f));
}

export interface ExplainInput {
  dbname: string;
  selector: Json;
  /** The `sort` of the request, as given. */
  sort: unknown;
  limit: number;
  skip: number;
  fields: string[] | undefined;
  useIndex: string[];
  bookmark: unknown;
  /** The index the query runs on; `null`: none can serve its sort. */
  winner: IndexInfo | null;
  indexes: IndexInfo[];
  executionStats: boolean;
  r: number;
  conflicts: boolean;
}

/** The `_explain` answer, key for key as CouchDB 3.4 gives it. */
export function explainAnswer(input: ExplainInput): Json {
  const normalized = normalizeSelector(input.selector);
  const sortEntries = Array.isArray(input.sort)
    ? input.sort.map((s): [string, string] => (typeof s === 'string' ? [s, 'asc'] : (Object.entries(s as Json)[0] as [string, string])))
    : [];
  const sort = sortEntries.map(([f]) => f);
  const desc = sortEntries[0]?.[1] === 'desc';
  const indexable = indexableFields(normalized);
  const equalities = equalityFields(normalized);
  const all = new Set(fieldsOf(normalized));
  const { winner } = input;
  const sameIndex = (a: IndexInfo, b: IndexInfo | null) => b !== null && a.ddoc === b.ddoc && a.name === b.name;
  const others = input.indexes.filter((i) => !sameIndex(i, winner));
  const required = requiredFields(normalized);
  const analysed = others.map((index) => ({ index, ...analyse(index, required, sort, equalities) }));
  // `use_index` naming the index the query runs on: every other usable index is "excluded by user".
  const chosen = winner !== null && winner.ddoc !== null && input.useIndex.length > 0 && winner.ddoc === `_design/${input.useIndex[0]!.replace(/^_design\//, '')}`;
  const ranked = chosen ? [] : analysed.filter((a) => a.usable && a.index.type === 'json').sort(better);
  const usableJson = [...(winner && winner.type === 'json' ? [winner] : []), ...ranked];
  const winnerWidth = winner && winner.type === 'json' ? columns(winner).length : 0;
  const winnerOverlap = winner && winner.type === 'json' ? overlap(winner, equalities) : 0;
  const unfavoredRank = Math.max(1, usableJson.length);
  const unfavored = !chosen && analysed.some((a) => a.index.type === 'special' && a.usable);
  const excluded = chosen && analysed.some((a) => a.usable);
  const notUsableRank = unfavoredRank + (unfavored ? 1 : 0) + (excluded ? 1 : 0);
  const candidate = (a: (typeof analysed)[number]) => {
    let reason = a.reason;
    let ranking = notUsableRank;
    if (a.usable && chosen) {
      reason = 'excluded_by_user';
      ranking = unfavoredRank;
    } else if (a.usable && a.index.type === 'json') {
      ranking = ranked.indexOf(a) + 1;
      reason = a.overlap < winnerOverlap ? 'less_overlap' : columns(a.index).length > winnerWidth ? 'too_many_fields' : 'alphabetically_comes_after';
    } else if (a.usable) ranking = unfavoredRank;
    return { index: indexJson(a.index), analysis: { usable: a.usable, reasons: [{ name: reason }], ranking, covering: covers(a.index, input.fields) } };
  };
  // CouchDB lists them in reverse order of their design documents, `_all_docs` last.
  const order = [...analysed].sort((a, b) => (a.index.ddoc === null ? 1 : b.index.ddoc === null ? -1 : (b.index.ddoc ?? '').localeCompare(a.index.ddoc ?? '')));
  const fields = input.fields ?? [];
  const covering = winner ? (covers(winner, input.fields) ?? false) : false;
  return {
    dbname: input.dbname,
    index: winner ? indexJson(winner) : null,
    partitioned: false,
    selector: normalized,
    opts: {
      use_index: input.useIndex,
      bookmark: input.bookmark ?? 'nil',
      limit: input.limit,
      skip: input.skip,
      sort: Object.fromEntries(sortEntries),
      fields,
      partition: '',
      r: input.r,
      conflicts: input.conflicts,
      stale: false,
      update: true,
      stable: false,
      execution_stats: input.executionStats,
      allow_fallback: true,
    },
    limit: input.limit,
    skip: input.skip,
    fields,
    index_candidates: order.map(candidate),
    selector_hints: [{ type: 'json', indexable_fields: indexable, unindexable_fields: [...all].filter((f) => !indexable.includes(f)).sort() }],
    ...(winner ? { mrargs: mrargs(winner, normalized, desc, covering), covering } : {}),
  };
}
