import { FeatValidationError } from '../errors.js';
import { idTooLong, MAX_ENCODED_ID_BYTES, partId } from './ids.js';

/** Ids starting with this prefix are the SDK's own documents (chunks); user keys may not use it. */
export const INTERNAL_PREFIX = 'feat~';

/**
 * How many levels of objects and arrays a value may nest (`[]` is one). Deeper values break the engines' recursive
 * copies (structured clone, IndexedDB writes, PouchDB's clones, `JSON.stringify` with a replacer): they run out of
 * stack. Measured with arrays only and with objects and arrays in turn, where set/get, `find` sorted by the deep field,
 * push, a second device's pull and export/import all round-trip:
 * - Node 20, remote and local-first (memory, LevelDB), on the emulator and on CouchDB 3.4 behind nginx: to 1,990
 *   levels (the emulator takes no JSON over 2,000; CouchDB stores 20,000); at 3,000 `set` overflows — `sameJson` from
 *   ~2,200 levels of arrays, `structuredClone` from ~2,400 in turn, each called on an empty stack.
 * - Chromium 150, a page (`indexeddb`, `idb`): to 1,990; an IndexedDB write overflows from ~3,650.
 * - Chromium 150, a Web Worker (a smaller stack): to 1,000 levels of arrays (1,250 in turn); at 1,100 a write to
 *   `indexeddb` threw an uncaught RangeError and `idb` failed to push (`bad_response`); a bare IndexedDB write
 *   overflows from ~1,850.
 * Half the smallest, so an engine with a smaller stack (another browser's worker) has room.
 */
const MAX_DEPTH = 500;

export const wellFormed = (s: string): boolean =>
  typeof (s as { isWellFormed?: () => boolean }).isWellFormed === 'function'
    ? (s as unknown as { isWellFormed(): boolean }).isWellFormed()
    : !/[\ud800-\udbff](?![\udc00-\udfff])|(?:[^\ud800-\udbff]|^)[\udc00-\udfff]/.test(s);

/**
 * Keys are non-empty strings that do not start with `_` (reserved by CouchDB) or `feat~` (the SDK's own documents), with
 * no lone surrogate, no NUL (nginx answers 400 to a URL holding one), none of the ids past the SDK's id ranges
 * ({@link PAST_THE_RANGES}) and an id within {@link MAX_ENCODED_ID_BYTES}.
 */
export function validateKey(key: unknown, what = 'key'): asserts key is string {
  if (typeof key !== 'string' || key === '') {
    throw new FeatValidationError('invalid_key', `The ${what} must be a non-empty string, got ${describe(key)}`);
  }
  if (key.startsWith('_')) {
    throw new FeatValidationError('invalid_key', `The ${what} "${key}" starts with "_", which CouchDB reserves; choose another key`, { key });
  }
  if (key.startsWith(INTERNAL_PREFIX)) {
    throw new FeatValidationError('invalid_key', `The ${what} "${key}" starts with "${INTERNAL_PREFIX}", which the SDK reserves`, { key });
  }
  checkId(key, `The ${what}`, key);
}

/** A subkey of `setParts`: non-empty, and the part's id passes the key rules. */
export function validateSubkey(key: string, subkey: string): void {
  if (subkey === '') throw new FeatValidationError('invalid_key', `A part of "${key}" has an empty subkey`, { key });
  checkId(partId(key, subkey), `The part "${short(subkey)}" of "${short(key)}"`, key);
}

const short = (s: string): string => (s.length > 40 ? `${s.slice(0, 40)}…` : s);

/**
 * The ids past the ends of the SDK's id ranges (ranges.ts `toTheEnd`: to eight U+10FFFF, and from U+E000 to eight
 * U+FFFF, valid in both code point and UTF-16 order, after a base made of U+FFFF and U+10FFFF only): those whose
 * leading run of U+FFFF and U+10FFFF holds U+10FFFF followed by U+E000–U+FFFF, or eight U+10FFFF or eight U+FFFF
 * followed by more. Listed by
 * no keys(), find() or export, and the chunk collector, which finds the big values it keeps that way, would delete
 * their chunks. Every other id lies within the ranges (a prefix with any other character has a successor).
 */
const PAST_THE_RANGES = /^[\u{FFFF}\u{10FFFF}]*(?:\u{10FFFF}[\u{E000}-\u{FFFF}]|\u{10FFFF}{8}[^]|\u{FFFF}{8}[^])/u;

/** What every id needs to travel through the deployment's proxy: UTF-8, no NUL, a request line under 8 KB. */
function checkId(text: string, what: string, key: string): void {
  if (!wellFormed(text)) {
    throw new FeatValidationError('invalid_key', `${what} contains a lone UTF-16 surrogate, which cannot be stored as UTF-8`, { key });
  }
  if (text.includes('\0')) {
    throw new FeatValidationError('invalid_key', `${what} contains a NUL character (U+0000), which the server's proxy refuses in a URL; remove it`, {
      key,
    });
  }
  if (PAST_THE_RANGES.test(text)) {
    throw new FeatValidationError(
      'invalid_key',
      `${what} starts with U+FFFF/U+10FFFF characters holding U+10FFFF followed by U+E000–U+FFFF, or eight U+10FFFF or eight U+FFFF followed by more: the noncharacters the SDK's id ranges end with, so keys(), find(), export and chunk collection could not list it; remove them`,
      { key },
    );
  }
  const bytes = idTooLong(text);
  if (bytes !== undefined) {
    throw new FeatValidationError(
      'invalid_key',
      `${what} is too long: ${bytes} bytes in a URL (JSON, percent-encoded) where the limit is ${MAX_ENCODED_ID_BYTES} (nginx refuses request lines over 8 KB); use a shorter key`,
      { key },
    );
  }
}

/** A value as a message shows it: its JSON, else its type (a bigint, a cycle, a getter that throws). */
export function shown(value: unknown): string {
  try {
    return JSON.stringify(value) ?? typeof value;
  } catch {
    return typeof value;
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') {
    try {
      if (Array.isArray(value)) return 'an array';
      const name: unknown = Object.getPrototypeOf(value)?.constructor?.name;
      if (name && name !== 'Object') return `a ${String(name)}`;
    } catch {
      // a Proxy whose trap throws
    }
    return 'an object';
  }
  if (typeof value === 'number') return String(value);
  if (value === undefined) return 'undefined';
  if (value === '') return 'an empty string';
  return `a ${typeof value}`;
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Checks that `value` is a JSON value and returns a deep copy of it (so later mutation by the caller changes nothing).
 * `undefined`, functions, symbols, bigints, cycles, `NaN`/`Infinity`, ±5e-324 (CouchDB stores it as 0), non-plain
 * objects, lone surrogates and `__proto__` property names → `invalid_value`.
 *
 * With `size`, adds to `size.bytes` an upper bound of the value's JSON text in UTF-8 bytes (at most 6 bytes per UTF-16
 * unit of a string: `\u001f`; 25 per number), so a small value is known to fit in a document without serializing it.
 */
export function snapshotValue<T>(value: T, key: string, size?: { bytes: number }): T {
  const stack = new Set<object>();
  let bytes = 0;
  // The path is only spelled out when something is wrong (no string building on the hot path).
  const path: (string | number)[] = [];
  const where = (last?: string | number) => {
    const all = [...path, ...(last === undefined ? [] : [last])];
    // A deep path would be thousands of characters: its first segments are enough to find it.
    const at = all.slice(0, 8).map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('') + (all.length > 8 ? '…' : '');
    return at || 'the top level';
  };
  const bad = (what: string, last?: string | number, cause?: unknown) =>
    new FeatValidationError(
      'invalid_value',
      `The value of "${key}" is not JSON: ${what} at ${where(last)}; store only plain objects, arrays, strings, finite numbers, booleans and null`,
      { key, cause },
    );

  const walk = (v: unknown, depth: number): unknown => {
    switch (typeof v) {
      case 'string':
        if (!wellFormed(v)) throw bad('a string with a lone UTF-16 surrogate');
        bytes += 6 * v.length + 3;
        return v;
      case 'boolean':
        bytes += 6;
        return v;
      case 'number':
        if (!Number.isFinite(v)) throw bad(String(v));
        // The smallest subnormal: CouchDB 3.4 (its JSON parser) stores 5e-324 as 0 — other devices would read 0.
        if (v === Number.MIN_VALUE || v === -Number.MIN_VALUE) throw bad(`${v}, which CouchDB stores as 0 (store 0, or the number as a string)`);
        bytes += 25;
        return v;
      case 'object': {
        bytes += 6;
        if (v === null) return null;
        if (depth >= MAX_DEPTH) {
          throw new FeatValidationError(
            'invalid_value',
            `The value of "${key}" is nested deeper than ${MAX_DEPTH} levels (at ${where()}), which the SDK does not store: flatten it, or store the deep part as a JSON string`,
            { key },
          );
        }
        if (stack.has(v)) throw bad('a cycle');
        stack.add(v);
        let out: unknown;
        if (Array.isArray(v)) {
          // Its own keys are its indices and `length`: a named property (or a symbol) on it would be dropped.
          if (Reflect.ownKeys(v).length !== v.length + 1) {
            for (let i = 0; i < v.length; i++) if (!(i in v)) throw bad('a hole in an array', i);
            throw bad('an array with a named property (JSON keeps only its elements)');
          }
          const arr = new Array<unknown>(v.length);
          for (let i = 0; i < v.length; i++) {
            if (!(i in v)) throw bad('a hole in an array', i);
            path.push(i);
            arr[i] = walk(v[i], depth + 1);
            path.pop();
          }
          out = arr;
        } else {
          if (!isPlainObject(v)) throw bad(describe(v));
          if (Object.getOwnPropertySymbols(v).length > 0) throw bad('a symbol key');
          const obj: Record<string, unknown> = {};
          for (const k of Object.keys(v)) {
            if (!wellFormed(k)) throw bad('a property name with a lone UTF-16 surrogate');
            // PouchDB copies documents by assignment, which would turn this key into a prototype: refuse, never lose it.
            if (k === '__proto__') throw bad('a "__proto__" property name (it cannot be stored safely)');
            bytes += 6 * k.length + 3;
            path.push(k);
            obj[k] = walk((v as Record<string, unknown>)[k], depth + 1);
            path.pop();
          }
          out = obj;
        }
        stack.delete(v);
        return out;
      }
      default:
        throw bad(describe(v));
    }
  };
  let copy: T;
  try {
    copy = walk(value, 0) as T;
  } catch (cause) {
    if (cause instanceof FeatValidationError) throw cause;
    throw bad('a getter or a Proxy that throws', undefined, cause);
  }
  if (size) size.bytes += bytes;
  return copy;
}
