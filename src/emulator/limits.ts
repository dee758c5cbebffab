/**
 * The two size limits of the deployment:
 * - the reverse proxy's request body limit (nginx `client_max_body_size`, default 1 MiB): checked on `Content-Length`
 *   before reading, and on the streamed byte count for chunked bodies; refused with nginx's HTML 413;
 * - CouchDB's `max_document_size` (8,000,000 bytes): a document whose JSON is larger → 413 `document_too_large`,
 *   and a `_bulk_docs` holding one fails whole.
 * A gzip-encoded body is counted compressed by nginx and decompressed by CouchDB; the emulator bounds what it
 * decompresses ({@link decodedBodyLimit}).
 */
import type { IncomingMessage } from 'node:http';
import { constants } from 'node:buffer';
import { gunzip } from 'node:zlib';
import { noteBytesIn } from './request-log.js';

export type BodyResult = { ok: true; body: Buffer } | { ok: false; reason: 'too_large' | 'aborted' };

/** True when the request announces or streams a body. */
export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return Number(length) > 0;
  return req.headers['transfer-encoding'] !== undefined;
}

/**
 * Reads the whole request body, refusing it once it exceeds `limit` bytes (`0` = no limit). A body refused on its
 * `Content-Length` is never read; one refused while streaming is drained and discarded.
 */
/**
 * nginx's `client_body_timeout` (60 s): a client that sends nothing of its body for that long is cut off — the
 * connection closed without an answer (measured on the deployment's nginx: an unterminated body closed at 60.06 s,
 * nothing sent).
 */
export const CLIENT_BODY_TIMEOUT_MS = 60_000;

export function readBody(req: IncomingMessage, limit: number, idleMs = CLIENT_BODY_TIMEOUT_MS): Promise<BodyResult> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (limit > 0 && Number.isFinite(declared) && declared > limit) {
    noteBytesIn(req, 0);
    return Promise.resolve({ ok: false, reason: 'too_large' });
  }
  return new Promise((resolve) => {
    const chunks: Uint8Array[] = [];
    let total = 0;
    let settled = false;
    const settle = (result: BodyResult) => {
      if (settled) return;
      settled = true;
      noteBytesIn(req, total);
      resolve(result);
    };
    // Between two reads (a refused body being drained too), as nginx times it.
    let idle: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(idle);
      idle = setTimeout(() => {
        settle({ ok: false, reason: 'aborted' });
        req.socket.destroy();
      }, idleMs);
    };
    const disarm = () => clearTimeout(idle);
    arm();
    req.on('end', disarm);
    req.on('close', disarm);
    req.on('data', (chunk: Uint8Array) => {
      arm();
      total += chunk.byteLength;
      if (settled) return; // draining a refused body
      if (limit > 0 && total > limit) {
        chunks.length = 0;
        settle({ ok: false, reason: 'too_large' });
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => settle({ ok: true, body: Buffer.concat(chunks) }));
    req.on('error', () => settle({ ok: false, reason: 'aborted' }));
    req.on('close', () => settle({ ok: false, reason: 'aborted' }));
  });
}

/**
 * How large a gzip-encoded body may grow once decompressed. CouchDB decompresses without a bound (its
 * `max_http_request_size`, 4 GiB, counts the compressed bytes, as nginx does); the emulator holds a body in memory, so a
 * few kilobytes must not expand to gigabytes: one largest document plus as much again as the proxy lets through
 * uncompressed (another document's worth when the proxy has no limit).
 */
export function decodedBodyLimit(maxDocumentBytes: number, maxRequestBytes: number): number {
  // (zlib takes no bound above its largest buffer: limits set higher than that are held to it.)
  return Math.min(maxDocumentBytes + (maxRequestBytes > 0 ? maxRequestBytes : maxDocumentBytes), constants.MAX_LENGTH);
}

export type DecodedBody = { ok: true; body: Buffer } | { ok: false; reason: 'not_gzip' | 'too_large' };

/** Decompresses a gzip body, stopping once it passes `limit` bytes; a body that is not gzip (or empty) → `not_gzip`. */
export function gunzipBody(body: Buffer, limit: number): Promise<DecodedBody> {
  return new Promise((resolve) => {
    gunzip(body as Uint8Array, { maxOutputLength: limit }, (err, result) => {
      if (!err) resolve({ ok: true, body: result });
      else resolve({ ok: false, reason: (err as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE' ? 'too_large' : 'not_gzip' });
    });
  });
}

/** Size CouchDB compares with `max_document_size`: the document's JSON without its attachments. */
export function documentBytes(doc: unknown): number {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return Buffer.byteLength(JSON.stringify(doc) ?? '');
  const { _attachments: _ignored, ...rest } = doc as Record<string, unknown>;
  return Buffer.byteLength(JSON.stringify(rest));
}

/** The `_id` (or `''`) of the first document over `max` bytes, or undefined when all fit. */
export function oversizeDocument(docs: readonly unknown[], max: number): string | undefined {
  for (const doc of docs) {
    if (documentBytes(doc) > max) {
      const id = typeof doc === 'object' && doc !== null ? (doc as { _id?: unknown })._id : undefined;
      return typeof id === 'string' ? id : '';
    }
  }
  return undefined;
}

/**
 * The deepest nesting the emulator stores: PouchDB (and the emulator's answers) serialise documents with
 * `JSON.stringify`, which runs out of stack at a few thousand levels (a RangeError: a 500, or a write that never
 * settled). CouchDB stores deeper documents; nothing real nests this deep.
 */
export const MAX_NESTING = 2000;

/** How deep a parsed JSON value nests (`1` for `[]`), counted without recursion; stops counting past `cap`. */
export function nestingDepth(value: unknown, cap = MAX_NESTING + 1): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop() as [unknown, number];
    if (typeof v !== 'object' || v === null) continue;
    if (depth > deepest) deepest = depth;
    if (deepest >= cap) return deepest;
    for (const child of Array.isArray(v) ? v : Object.values(v)) if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
  }
  return deepest;
}
