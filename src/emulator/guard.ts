/**
 * What keeps the emulator safe to expose: no request can make it run code. CouchDB runs design-document JavaScript in
 * its own sandboxed process; the emulator has no such sandbox, so it refuses JavaScript design documents when they are
 * written and every route that would run one (views, `_temp_view`, show, list, update, rewrite, filter functions).
 * Mango design documents (`language: "query"`) hold no code and are accepted. `$regex` patterns that could backtrack
 * catastrophically are refused, and V8 is told to fall back to its linear-time engine on excessive backtracking.
 */
import v8 from 'node:v8';
import { HttpError } from './couch-docs.js';

/** The answer to anything that would run design-document JavaScript. */
export const NO_JAVASCRIPT = {
  status: 501,
  body: {
    error: 'not_implemented',
    reason:
      'The emulator does not run JavaScript design-document functions (views, filters, shows, lists, updates, ' +
      'rewrites, validate_doc_update). Use Mango (_find, _index) and the built-in _changes filters _doc_ids, ' +
      '_selector and _design.',
  },
} as const;

/** `POST /{db}/_temp_view`, exactly as CouchDB 3 answers it. */
export const TEMP_VIEW_GONE = { status: 410, body: { error: 'gone', reason: 'Temporary views are not supported in CouchDB' } } as const;

/** Members of a design document that hold code CouchDB would run. */
const CODE_MEMBERS = ['views', 'filters', 'shows', 'lists', 'updates', 'validate_doc_update', 'rewrites'] as const;

function nonEmpty(value: unknown): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value === 'object') return Object.keys(value).length > 0;
  return true;
}

/**
 * True when `doc` is a design document holding JavaScript (or any non-Mango code). Mango index documents
 * (`language: "query"`, views whose `map` is an object of fields) are not.
 */
export function holdsCode(doc: unknown): boolean {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return false;
  const d = doc as Record<string, unknown>;
  if (typeof d._id !== 'string' || !d._id.startsWith('_design/')) return false;
  if (d._deleted === true) return false;
  if (d.language === 'query') {
    const views = d.views;
    if (typeof views === 'object' && views !== null) {
      for (const view of Object.values(views as Record<string, unknown>)) {
        const map = (view as { map?: unknown } | null)?.map;
        if (typeof map === 'string') return true;
        const reduce = (view as { reduce?: unknown } | null)?.reduce;
        if (typeof reduce === 'string' && !reduce.startsWith('_')) return true;
      }
    }
    return CODE_MEMBERS.some((m) => m !== 'views' && nonEmpty(d[m]));
  }
  return CODE_MEMBERS.some((m) => nonEmpty(d[m]));
}

/** Design-document routes below `/{db}/_design/{name}/` that run code. */
const CODE_ROUTES = new Set(['_view', '_show', '_list', '_update', '_rewrite', '_search', '_nouveau']);

/**
 * True when a request path (decoded segments `[db, …]`) would run design-document code: `_temp_view`, a view or a
 * show/list/update/rewrite handler.
 */
export function runsCode(segments: readonly string[]): boolean {
  const [, first, , third] = segments;
  return first === '_design' && third !== undefined && CODE_ROUTES.has(third);
}

const MAX_PATTERN = 1000;
const MAX_LITERAL_PATTERN = 64_000;
/** Backreferences, lookarounds and bounded repetition defeat V8's linear-time fallback. */
const UNBOUNDABLE = /\\[1-9]|\\k<|\(\?<?[=!]|\{\d*,\d*\}|\{\d{3,}\}/;

let linearFallback = false;
/**
 * Makes V8 switch a regular expression to its linear-time engine once it backtracks excessively (process-wide; the
 * matches are the same, only catastrophic backtracking is cut short).
 */
export function enableRegexFallback(): void {
  if (linearFallback) return;
  linearFallback = true;
  v8.setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks');
}

/** Throws {@link HttpError} (400) for a `$regex` anywhere in a Mango selector that is invalid or could run unbounded. */
export function checkSelectorRegexes(selector: unknown, depth = 0): void {
  if (depth > 64) throw new HttpError(400, 'bad_arg', 'Selector nested too deeply');
  if (Array.isArray(selector)) {
    for (const item of selector) checkSelectorRegexes(item, depth + 1);
    return;
  }
  if (typeof selector !== 'object' || selector === null) return;
  for (const [key, value] of Object.entries(selector as Record<string, unknown>)) {
    if (key === '$regex') {
      if (typeof value !== 'string') throw new HttpError(400, 'invalid_operator', 'Invalid operator: $regex must be a string');
      try {
        new RegExp(value);
      } catch {
        throw new HttpError(400, 'bad_arg', `Invalid regular expression: ${value.slice(0, 100)}`);
      }
      // A long pattern without quantifiers or alternation (a literal, as the SDK's anchored prefix of a long key) runs
      // in linear time: only a bound on its length, that of a request.
      const quantified = /[*+?{|]/.test(value.replace(/\\[\s\S]/g, ''));
      if ((value.length > MAX_PATTERN && quantified) || value.length > MAX_LITERAL_PATTERN || UNBOUNDABLE.test(value)) {
        throw new HttpError(400, 
          'bad_arg',
          'The emulator refuses $regex patterns longer than 1000 characters with quantifiers or alternation (64,000 ' +
            'without), or using backreferences, lookarounds or {n,m} repetition (they could run for minutes); use *, + and ? instead.',
        );
      }
    } else {
      checkSelectorRegexes(value, depth + 1);
    }
  }
}
