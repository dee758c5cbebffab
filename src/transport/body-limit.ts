import { toFeatError } from '../errors.js';
import { sleep, throwIfAborted } from '../util/abort.js';
import { discard, jsonResponse, utf8Bytes } from './responses.js';

type Send = (url: string, init: RequestInit) => Promise<Response>;

interface BulkResult {
  id?: string;
  error?: string;
  reason?: string;
  status?: number;
}

/**
 * A body at least this big that fails as the network does may be the proxy's 413 hidden from a page on another origin:
 * nginx's own answers carry no CORS headers, so `fetch` rejects as if offline (see `sendBody`). In Node, and in a page
 * on the server's own origin, a 413 is read as such: no guess.
 */
const HIDDEN_413_BYTES = 64 * 1024;
/** The wait before such a body is sent again. */
const RESEND_MS = 250;

/** A page or worker on another origin than the server's (any scheme: file:// pages and app shells are cross-origin too). */
function crossOriginPage(url: string): boolean {
  const origin = (globalThis as { location?: { origin?: unknown } }).location?.origin;
  return typeof origin === 'string' && origin !== new URL(url).origin;
}

/**
 * A replicated revision (`new_edits: false`) that does not fit `room` bytes only because of its history: `_revisions`
 * holds up to 1,000 revision ids (~35 bytes each), so a key edited a few hundred times no longer fit a small
 * `maxRequestBytes` although its value is a byte — it was refused `too_large` for good. Its history is cut to the
 * newest ids that fit, as CouchDB stems histories at `_revs_limit`: the server joins it to its tree at any revision
 * it holds among them (a device's last push, a common ancestor of two devices' edits); a branch apart for longer is
 * kept apart, as stemming keeps it. Undefined when not even one id fits (the document itself is too large).
 */
function shortHistory(doc: unknown, room: number): { doc: unknown; json: string; bytes: number } | undefined {
  const revisions = (doc as { _revisions?: { start?: unknown; ids?: unknown } } | null)?._revisions;
  const ids = revisions?.ids;
  if (!Array.isArray(ids) || ids.length < 2 || !ids.every((id) => typeof id === 'string')) return undefined;
  const base = utf8Bytes(JSON.stringify({ ...(doc as object), _revisions: { ...revisions, ids: [] } }));
  const each = utf8Bytes(JSON.stringify(ids[0])) + 1;
  const keep = Math.min(ids.length - 1, Math.floor((room - base + 1) / each));
  if (keep < 1) return undefined;
  const cut = { ...(doc as object), _revisions: { ...revisions, ids: ids.slice(0, keep) } };
  const json = JSON.stringify(cut);
  const bytes = utf8Bytes(json);
  return bytes <= room ? { doc: cut, json, bytes } : undefined;
}

/**
 * Sends a `_bulk_docs` request in as few requests as the body limit allows and merges the per-document results
 * back into one response, so PouchDB (and its replicator) never sees a 413 for a batch that could have passed.
 * A batch refused with 413 anyway (or hidden: see HIDDEN_413_BYTES) is halved and retried; a single document that
 * cannot pass gets a per-document `too_large` error (status 413) instead of failing its neighbours.
 */
export async function splitBulkDocs(url: string, init: RequestInit, body: string, maxBytes: number, send: Send): Promise<Response> {
  // maxBytes 0 means no known limit, not that the proxy has none: a 413 is split as well.
  const limit = maxBytes > 0 ? maxBytes : Infinity;
  let hidden = false;
  let reachable: Promise<boolean> | undefined;
  /**
   * `send`; in a page on another origin, a network failure of a big body is looked at again: the database answers a
   * small request (once per call), and the same body sent again a moment later fails the same way → the proxy's 413.
   * (A reset on a flaky link passes the second time; offline, the small request fails too.)
   */
  const sendBody = async (text: string, bytes: number): Promise<Response> => {
    try {
      return await send(url, { ...init, body: text });
    } catch (error) {
      if (bytes < HIDDEN_413_BYTES || toFeatError(error).code !== 'network' || !crossOriginPage(url)) throw error;
      throwIfAborted(init.signal ?? undefined);
      reachable ??= send(url.replace(/\/_bulk_docs(\?.*)?$/, '/'), { method: 'GET', ...(init.signal ? { signal: init.signal } : {}) }).then(
        (r) => {
          discard(r);
          return r.ok;
        },
        () => false,
      );
      const answered = await reachable;
      throwIfAborted(init.signal ?? undefined);
      if (!answered) throw error;
      await sleep(RESEND_MS, init.signal ?? undefined);
      try {
        return await send(url, { ...init, body: text });
      } catch (again) {
        if (toFeatError(again).code !== 'network') throw again;
        throwIfAborted(init.signal ?? undefined);
      }
      hidden = true;
      return jsonResponse(413, { error: 'too_large', reason: 'the request failed as the network does, twice, while the server answers: a proxy refusal a page cannot read' });
    }
  };
  let refused: Response | undefined;
  const bodyBytes = utf8Bytes(body);
  if (maxBytes <= 0 || bodyBytes <= maxBytes) {
    const response = await sendBody(body, bodyBytes);
    if (response.status !== 413) return response;
    refused = response;
  }
  let parsed: { docs?: unknown; [k: string]: unknown };
  try {
    parsed = JSON.parse(body) as typeof parsed;
  } catch {
    return refused ?? send(url, init);
  }
  const docs = parsed.docs;
  if (!Array.isArray(docs) || docs.length === 0) return refused ?? send(url, init);
  if (refused) discard(refused);

  const { docs: _docs, ...rest } = parsed;
  const envelope = JSON.stringify({ ...rest, docs: [] });
  const overhead = utf8Bytes(envelope);
  const sized = docs.map((doc) => {
    const json = JSON.stringify(doc);
    const bytes = utf8Bytes(json);
    return overhead + bytes > limit && rest.new_edits === false ? shortHistory(doc, limit - overhead) ?? { doc, json, bytes } : { doc, json, bytes };
  });

  const results: BulkResult[] = [];
  let status = 201;
  const tooLarge = (doc: unknown): BulkResult => ({
    id: typeof (doc as { _id?: unknown })?._id === 'string' ? (doc as { _id: string })._id : '',
    ...(typeof (doc as { _rev?: unknown })?._rev === 'string' ? { rev: (doc as { _rev: string })._rev } : {}),
    error: 'too_large',
    reason: hidden
      ? `The proxy refused the document's request (its body limit is below maxRequestBytes, ${maxBytes} bytes; a page on another origin sees its 413 as a network failure): set maxRequestBytes to the proxy's limit, or store the value in parts`
      : maxBytes > 0
        ? `The document does not fit in a request body of ${maxBytes} bytes (the proxy's limit); store it in parts or chunks`
        : 'The server refused the document as too large (413); store it in parts or chunks',
    status: 413,
  });

  async function sendBatch(batch: typeof sized): Promise<void> {
    if (batch.length === 0) return;
    if (batch.length === 1 && overhead + batch[0]!.bytes > limit) {
      results.push(tooLarge(batch[0]!.doc));
      return;
    }
    // `{…,"docs":[]}` → `{…,"docs":[` + the documents + `]}`
    const text = envelope.slice(0, -2) + batch.map((d) => d.json).join(',') + ']}';
    const response = await sendBody(text, batch.reduce((n, d) => n + d.bytes, overhead));
    if (response.status === 413) {
      discard(response);
      await halve(batch);
      return;
    }
    if (!response.ok) {
      // Report the failure per document so that earlier, successful batches still count.
      const error = (await response.json().catch(() => ({}))) as BulkResult;
      for (const d of batch) {
        const id = (d.doc as { _id?: string })?._id ?? '';
        results.push({ id, error: error.error ?? 'unknown_error', reason: error.reason ?? `HTTP ${response.status}`, status: response.status });
      }
      return;
    }
    status = response.status;
    const part = (await response.json()) as BulkResult[];
    results.push(...part);
  }

  /** A batch refused with 413: a single document gets its own `too_large`, more are sent in two halves. */
  async function halve(batch: typeof sized): Promise<void> {
    if (batch.length === 1) {
      results.push(tooLarge(batch[0]!.doc));
      return;
    }
    const half = Math.ceil(batch.length / 2);
    await sendBatch(batch.slice(0, half));
    await sendBatch(batch.slice(half));
  }

  if (refused) {
    await halve(sized);
    return jsonResponse(status, results);
  }
  // Greedy packing in order: each batch as large as the limit allows.
  let batch: typeof sized = [];
  let bytes = overhead;
  for (const d of sized) {
    const add = d.bytes + (batch.length > 0 ? 1 : 0);
    if (batch.length > 0 && bytes + add > limit) {
      await sendBatch(batch);
      batch = [];
      bytes = overhead;
    }
    batch.push(d);
    bytes += d.bytes + (batch.length > 1 ? 1 : 0);
  }
  await sendBatch(batch);
  return jsonResponse(status, results);
}

/**
 * A read request whose body lists ids over the limit — `_revs_diff` (an object of ids), `_all_docs` (`keys`),
 * `_bulk_get` (`docs`): long ids and a proxy limit below the default make a batch of them too large — is sent in parts
 * within the limit, one after the other, and their answers merged into one, in order. One entry that cannot pass is
 * sent alone (the proxy's 413 then says so).
 */
export async function splitList(url: string, init: RequestInit, body: string, maxBytes: number, send: Send): Promise<Response> {
  const path = new URL(url).pathname;
  const field = path.endsWith('/_all_docs') ? 'keys' : path.endsWith('/_bulk_get') ? 'docs' : undefined;
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(body) as Record<string, unknown>;
  } catch {
    return send(url, init);
  }
  const list = field ? parsed[field] : undefined;
  const entries: unknown[] = field ? (Array.isArray(list) ? list : []) : Object.entries(parsed);
  if (entries.length < 2) return send(url, init);
  const bodyOf = (some: unknown[]) => JSON.stringify(field ? { ...parsed, [field]: some } : Object.fromEntries(some as [string, unknown][]));
  const overhead = utf8Bytes(bodyOf([]));
  const merged: { rows?: unknown[]; results?: unknown[]; [id: string]: unknown } = {};
  let batch: unknown[] = [];
  let bytes = overhead;
  const flush = async (): Promise<Response | undefined> => {
    const response = await send(url, { ...init, body: bodyOf(batch) });
    if (!response.ok) return response;
    const part = (await response.json()) as typeof merged;
    // (`_all_docs`' rows, `_bulk_get`'s results: concatenated; the rest, such as `total_rows`, as the last part says.)
    const rows = field === 'keys' ? 'rows' : 'results';
    const before = merged[rows] ?? [];
    Object.assign(merged, part);
    if (field) merged[rows] = [...before, ...(part[rows] ?? [])];
    batch = [];
    bytes = overhead;
    return undefined;
  };
  for (const entry of entries) {
    const size = utf8Bytes(JSON.stringify(entry)) + 1;
    if (batch.length > 0 && bytes + size > maxBytes) {
      const failed = await flush();
      if (failed) return failed;
    }
    batch.push(entry);
    bytes += size;
  }
  return (await flush()) ?? jsonResponse(200, merged);
}
