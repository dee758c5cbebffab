/**
 * `JSON.stringify` for values read from the database, at any depth. V8's own recurses, and overflows the stack from
 * about 4,500 levels of nesting (less in a Web Worker): a document another app wrote may nest far deeper (CouchDB 3.4
 * takes thousands of levels), while `JSON.parse`, which is iterative, read it. Such a value is written here from an
 * explicit stack instead, with the same output.
 */

/**
 * The JSON text of a JSON-parsed value (no `undefined`, function or `toJSON` below its top); `JSON.stringify`'s own
 * when it does not overflow. With `sorted`, every object's keys in sorted order (a canonical text: codec.ts `sameJson`).
 */
export function stringify(value: unknown, sorted = false): string {
  try {
    return JSON.stringify(value, sorted ? sortKeys : undefined);
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
  }
  let out = '';
  // What is left to write, last first: values, and punctuation as String objects (JSON.parse makes none).
  const todo: unknown[] = [value];
  while (todo.length > 0) {
    const v = todo.pop();
    if (v instanceof String) out += v;
    else if (v === null || typeof v !== 'object') out += JSON.stringify(v);
    else {
      const array = Array.isArray(v);
      // (Sorted as JSON.stringify's replacer sorts them: integer-like keys still come first, as any object lists them.)
      const entries = Object.entries(sorted && !array ? sortKeys('', v) as object : v);
      out += array ? '[' : '{';
      todo.push(new String(array ? ']' : '}'));
      for (let i = entries.length - 1; i >= 0; i--) {
        const [k, x] = entries[i]!;
        todo.push(x, new String((i > 0 ? ',' : '') + (array ? '' : JSON.stringify(k) + ':')));
      }
    }
  }
  return out;
}

function sortKeys(_key: string, v: unknown): unknown {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return v;
  const sorted: Record<string, unknown> = {};
  for (const k of Object.keys(v).sort()) Object.defineProperty(sorted, k, { value: (v as Record<string, unknown>)[k], enumerable: true });
  return sorted;
}

/** A copy of a JSON-parsed value, at any depth (`structuredClone` overflows the stack as `JSON.stringify` does). */
export function cloneJson<T>(value: T): T {
  try {
    return structuredClone(value);
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    return JSON.parse(stringify(value)) as T;
  }
}
