/**
 * The one id space shared by keys and parts.
 *
 * - A key is stored under its own id, verbatim (`set('a:x')` → `_id: 'a:x'`), as existing apps store it.
 * - The part `subkey` of `key` is stored under `key + ':' + escaped(subkey)`, where the subkey's `%` is written `%25`
 *   and its `:` `%3A` (nothing else changes): the id's last `:` separates the key from the subkey, so two different
 *   (key, subkey) pairs never share a document, and a part of `a` never has the id of a part of `a:b`.
 * - Both views name the same documents: an id whose text after its last `:` is a subkey as written above (non-empty,
 *   no `:`, every `%` part of `%25` or `%3A`) is also that part of the key before it. So `set('a:x')` writes the part
 *   `x` of `a` (the seed's `{ _id: 'key:subkey', doc }` layout reads as parts), and `a:b:c` is the part `c` of `a:b`.
 */

export const PART_SEPARATOR = ':';

/**
 * The longest id, counted as it travels in a URL query string (JSON text, percent-encoded: `encodeURIComponent(
 * JSON.stringify(id))`). An `_all_docs` range request (`getParts`, `keys`) names an id twice; with this limit every
 * request line stays under 6.5 KB, well inside nginx's default 8 KB request-line buffer (a longer one → 414).
 */
export const MAX_ENCODED_ID_BYTES = 3_000;

/** The length of `id` as it travels in a URL query string (see {@link MAX_ENCODED_ID_BYTES}). */
export function encodedIdBytes(id: string): number {
  return encodeURIComponent(JSON.stringify(id)).length;
}

/** The length of `id` in a URL query string when it is over {@link MAX_ENCODED_ID_BYTES}; otherwise `undefined`. */
export function idTooLong(id: string): number | undefined {
  // Most ids are far below the limit: counted only when they could be near it (at most 9 bytes per UTF-16 unit).
  if (id.length * 9 + 6 <= MAX_ENCODED_ID_BYTES) return undefined;
  const bytes = encodedIdBytes(id);
  return bytes > MAX_ENCODED_ID_BYTES ? bytes : undefined;
}

/** A subkey as its part's id spells it: `%` → `%25`, `:` → `%3A`. */
export const escapeSubkey = (subkey: string): string => subkey.replace(/%/g, '%25').replace(/:/g, '%3A');

/** The id of the part `subkey` of `key`. */
export function partId(key: string, subkey: string): string {
  return key + PART_SEPARATOR + escapeSubkey(subkey);
}

/** The key and subkey an id names as a part; `undefined` when it is not a part's id (see the module comment). */
export function parsePartId(id: string): { key: string; subkey: string } | undefined {
  const at = id.lastIndexOf(PART_SEPARATOR);
  if (at <= 0 || at === id.length - 1) return undefined;
  const escaped = id.slice(at + 1);
  if (!escaped.includes('%')) return { key: id.slice(0, at), subkey: escaped };
  const subkey = escaped.replace(/%(25|3A)/g, (m) => (m === '%25' ? '%' : ':'));
  // Only the SDK's own spelling counts (`100%` or `%3a` written by another app is a plain key): one id per pair.
  if (escapeSubkey(subkey) !== escaped) return undefined;
  return { key: id.slice(0, at), subkey };
}

/** The part's subkey when `id` is a part of `key`; otherwise `undefined`. */
export function subkeyOf(id: string, key: string): string | undefined {
  if (id.length <= key.length + 1 || !id.startsWith(key + PART_SEPARATOR)) return undefined;
  const part = parsePartId(id);
  return part?.key === key ? part.subkey : undefined;
}
