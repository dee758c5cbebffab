/**
 * `JSON.stringify` for values read from the database, at any depth. V8's own recurses, and overflows the stack from
 * about 4,500 levels of nesting (less in a Web Worker): a document another app wrote may nest far deeper (CouchDB 3.4
 * takes thousands of levels), while `JSON.parse`, which is iterative, read it. Such a value is written here from an
 * explicit stack instead, with the same output.
 */

/**
 * The JSON text of a JSON-parsed value (no `undefined`, function or `toJSON` below its top); `JSON.stringify`'s own
 * when it does not overflow.
 */
export function stringify(value: unknown): string {
  try {
    return JSON.stringify(value);
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
      const entries = Object.entries(v);
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

/** A copy of a JSON-parsed value, at any depth (`structuredClone` overflows the stack as `JSON.stringify` does). */
export function cloneJson<T>(value: T): T {
  try {
    return structuredClone(value);
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    return JSON.parse(stringify(value)) as T;
  }
}
