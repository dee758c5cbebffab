/** A CouchDB-style JSON error response (`{ error, reason }`) that PouchDB turns into an error with `status`. */
export function jsonErrorResponse(status: number, error: string, reason: string): Response {
  return jsonResponse(status, { error, reason });
}

export function jsonResponse(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

/** UTF-8 byte length of a string (lone surrogates count as U+FFFD, 3 bytes), without encoding it. */
export function utf8Bytes(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) bytes += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 2; // the pair is 2 code units, 4 bytes
      i++;
    } else bytes += 2;
  }
  return bytes;
}

/**
 * Releases a response body we do not read, without waiting: cancelling a body whose response was cloned (by a
 * logging fetch wrapper, msw, a service worker) only settles once every clone is consumed, so awaiting it can hang.
 */
export function discard(response: Response): void {
  response.body?.cancel().catch(() => undefined);
}

/**
 * The most bytes the SDK reads of a JSON answer that is not a CouchDB document stream: a token, a REST answer, an error
 * body (decompressed bytes, so a gzip bomb stops here too). These answers are a few kB; 4 MiB is far beyond any of them.
 */
export const MAX_ANSWER_BYTES = 4 * 1024 * 1024;

/** How {@link readText} ended early. */
export type ReadLimitHit = 'too_large' | 'late';

export interface ReadTextOptions {
  /** Largest body in bytes (default {@link MAX_ANSWER_BYTES}). */
  maxBytes?: number;
  /** Give up after this many ms (whole body). */
  ms?: number;
  /** Give up when aborted (the read rejects with the signal's reason). */
  signal?: AbortSignal | undefined;
}

/**
 * Reads a body as UTF-8 text, bounded in size and time: resolves `{ text }`, or `{ hit }` after cancelling the body when
 * it is larger than `maxBytes` or did not arrive within `ms`. A failing stream rejects with its error; an aborted
 * `signal` rejects with its reason (the body is cancelled). Never waits for a cancel to settle (see {@link discard}).
 */
export async function readText(response: Response, options: ReadTextOptions = {}): Promise<{ text: string } | { hit: ReadLimitHit }> {
  const { maxBytes = MAX_ANSWER_BYTES, ms, signal } = options;
  if (!response.body) return { text: '' };
  const reader = response.body.getReader();
  const cancel = () => void reader.cancel().catch(() => undefined);
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stop: ((outcome: { hit: ReadLimitHit } | { aborted: unknown }) => void) | undefined;
  const stopped = new Promise<{ hit: ReadLimitHit } | { aborted: unknown }>((resolve) => (stop = resolve));
  if (ms !== undefined) {
    timer = setTimeout(() => stop!({ hit: 'late' }), ms);
    (timer as { unref?(): void }).unref?.();
  }
  const onAbort = () => stop!({ aborted: signal!.reason });
  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });
  const decoder = new TextDecoder();
  let text = '';
  let bytes = 0;
  try {
    for (;;) {
      const next = reader.read();
      next.catch(() => undefined);
      const step = await Promise.race([next, stopped]);
      if ('hit' in step) {
        cancel();
        return { hit: step.hit };
      }
      if ('aborted' in step) {
        cancel();
        throw step.aborted;
      }
      if (step.done) return { text: text + decoder.decode() };
      bytes += step.value.byteLength;
      if (bytes > maxBytes) {
        cancel();
        return { hit: 'too_large' };
      }
      text += decoder.decode(step.value, { stream: true });
    }
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * A small JSON answer (an error body, a token), read as {@link readText} reads it: `undefined` when it is not JSON, is
 * larger than `maxBytes` or came too late. A failing stream or an aborted `signal` rejects.
 */
export async function readJson(response: Response, options: ReadTextOptions = {}): Promise<unknown> {
  const read = await readText(response, options);
  if (!('text' in read)) return undefined;
  try {
    return JSON.parse(read.text) as unknown;
  } catch {
    return undefined;
  }
}
