import { FeatError } from '../errors.js';
import { utf8Bytes } from './responses.js';
import { monotonicNow } from '../util/clock.js';

/** Statuses whose responses have no body (a Response cannot be built with one). */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/**
 * How long a request may stay silent, in ms. A long-poll (`feed=longpoll|continuous`) waits on purpose: the server
 * sends a newline every `heartbeat` ms (or answers after `timeout` ms), so its limit is that wait plus `requestTimeout`.
 */
export function silenceLimit(url: string, requestTimeout: number): number {
  const query = url.split('?')[1];
  if (!query || !/(^|&)feed=(longpoll|continuous)(&|$)/.test(query)) return requestTimeout;
  const param = (name: string) => Number(new RegExp(`(?:^|&)${name}=(\\d+)`).exec(query)?.[1] ?? NaN);
  const heartbeat = param('heartbeat');
  const wait = Number.isFinite(heartbeat) ? heartbeat : Number.isFinite(param('timeout')) ? param('timeout') : 60_000;
  return wait + requestTimeout;
}

/** A timer's delay, within the longest JavaScript keeps (a longer one fires at once). */
const delay = (ms: number) => Math.min(ms, 2_147_483_647);

const pathOf = (url: string) => url.split('?')[0]!.replace(/\/\/[^/@]*@/, '//');

/**
 * The slowest upload the silence limit allows for (bytes per ms: 16 kB/s). `fetch` tells nothing while it sends a body,
 * so until the answer starts, a request with a body may stay silent `requestTimeout` plus the time its body takes at
 * that rate: on a slow uplink a big write would otherwise time out while still sending, and be sent again forever.
 */
export const SLOWEST_UPLOAD = 16;

/** Bytes of a request body, as far as they can be told without reading it (0 when unknown). */
function bodyBytes(body: BodyInit | null | undefined): number {
  // (UTF-8: a CJK character is 3 bytes on the wire, not 1.)
  if (typeof body === 'string') return utf8Bytes(body);
  if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) return body.byteLength;
  if (typeof Blob !== 'undefined' && body instanceof Blob) return body.size;
  return 0;
}

/**
 * The uploads being sent now (their answer not started), by their bytes: they share the device's uplink, so a request
 * still unanswered while others upload takes their time too (two 1 MB writes at once on a 24 kB/s link each took twice
 * what one alone would, and both were cut off, and sent again, forever). Counted when its limit comes: uploads answered
 * by then (a fast link) give it nothing.
 */
const uploading = new Set<{ bytes: number }>();
/**
 * The most time one request is given for the uploads beside it (ms: 4 MiB at 16 kB/s, about 4 min): uploads that keep
 * starting never hold a request a silent server keeps, for good.
 */
const SHARED_MAX_MS = (4 * 1024 * 1024) / SLOWEST_UPLOAD;

/**
 * `fetch` with a silence limit: the request is aborted with a `timeout` FeatError when neither the response headers nor
 * a byte of its body arrived for `ms` (a server that accepted the connection and went quiet, a proxy holding the
 * request) — plus, before the headers, the time its body may take to send ({@link SLOWEST_UPLOAD}). The caller's
 * `signal` still aborts it as before (with the caller's reason). Both hold whatever `fetchFn` does with the signal: one
 * that ignores it (a wrapper that does not pass it on) is left behind, its answer, if it ever comes, discarded.
 *
 * `total` (ms), when given, also bounds the whole exchange — headers and every byte of the body — whatever trickles in:
 * for small answers (a token) that a server must not keep open by sending a byte now and then.
 *
 * `lifetime`, when given (the client's), ends the exchange as the caller's signal does, with its reason (`closed`).
 */
export async function fetchWithTimeout(
  fetchFn: typeof fetch,
  input: RequestInfo | URL,
  init: RequestInit,
  ms: number,
  total?: number,
  lifetime?: AbortSignal,
): Promise<Response> {
  if (!(ms > 0) || !Number.isFinite(ms)) return fetchFn(input, init);
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
  const controller = new AbortController();
  // The caller's signal and, when given, the client's lifetime: either ends the exchange, body included (no signal
  // combined per request, whose listener on the lifetime would outlive it).
  const outers = [init.signal ?? (input instanceof Request ? input.signal : undefined), lifetime].filter((s): s is AbortSignal => !!s);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const onOuter = (event: Event) => {
    const reason: unknown = (event.target as AbortSignal).reason;
    cleanup();
    failBody?.(reason);
    controller.abort(reason);
  };
  let deadline: ReturnType<typeof setTimeout> | undefined;
  const bytes = bodyBytes(init.body);
  // (A monotonic clock: the device's may be set meanwhile.)
  const started = monotonicNow();
  /** The time given so far for the uploads beside it (at most SHARED_MAX_MS), and those it was given for. */
  let shared = 0;
  const credited = new Set<object>();
  const upload = { bytes };
  const cleanup = () => {
    uploading.delete(upload);
    clearTimeout(timer);
    clearTimeout(deadline);
    for (const outer of outers) outer.removeEventListener('abort', onOuter);
  };
  let answered = false;
  /** Fails the body read by the caller with the timeout itself (some fetches fail it with a bare AbortError). */
  let failBody: ((reason: unknown) => void) | undefined;
  const arm = (limit = ms) => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (!answered) {
        // Other uploads still under way now: this one waits its turn on the link behind them — each counted once (a
        // server that holds every request holds them too: they must not keep one another alive).
        let others = 0;
        for (const other of uploading) {
          if (other === upload || credited.has(other)) continue;
          credited.add(other);
          others += other.bytes;
        }
        const more = Math.min(SHARED_MAX_MS - shared, Math.ceil(others / SLOWEST_UPLOAD));
        if (more > 0) {
          shared += more;
          return arm(more);
        }
      }
      cleanup();
      // (Before the answer, a body's upload time was allowed too: the message says how long it waited, and why.)
      const what = answered
        ? `The answer from ${pathOf(url)} went silent for ${ms} ms`
        : bytes > 0 || shared > 0
          ? `No answer from ${pathOf(url)} within ${monotonicNow() - started} ms (${ms} ms plus the time its ${bytes}-byte body, and those sent beside it, take at ${SLOWEST_UPLOAD} kB/s)`
          : `No answer from ${pathOf(url)} within ${ms} ms`;
      const reason = new FeatError('timeout', `${what}; the server may be overloaded or unreachable (option "requestTimeout")`, {
        url: pathOf(url),
      });
      failBody?.(reason);
      controller.abort(reason);
    }, delay(limit));
    (timer as { unref?(): void }).unref?.();
  };
  const ended = outers.find((s) => s.aborted);
  if (ended) controller.abort(ended.reason);
  else for (const outer of outers) outer.addEventListener('abort', onOuter, { once: true });
  // Its own upload time (those beside it are counted when the limit comes).
  arm(ms + Math.ceil(bytes / SLOWEST_UPLOAD));
  if (bytes > 0) uploading.add(upload);
  if (total !== undefined && total > 0 && Number.isFinite(total)) {
    deadline = setTimeout(() => {
      cleanup();
      const reason = new FeatError('timeout', `The answer from ${pathOf(url)} did not arrive in full within ${total} ms; the server may be overloaded or unreachable (option "requestTimeout")`, {
        url: pathOf(url),
      });
      failBody?.(reason);
      controller.abort(reason);
    }, delay(total + Math.ceil(bytes / SLOWEST_UPLOAD)));
    (deadline as { unref?(): void }).unref?.();
  }
  let response: Response;
  let sent: Promise<Response> | undefined;
  try {
    // Raced with the signal: a fetch that ignores it would otherwise wait on a silent server forever.
    response = await new Promise<Response>((resolve, reject) => {
      const stop = () => reject(controller.signal.reason);
      // Ended already: nothing is sent (a fetch that ignores the signal would send it all the same).
      if (controller.signal.aborted) return stop();
      controller.signal.addEventListener('abort', stop, { once: true });
      sent = Promise.resolve(fetchFn(input, { ...init, signal: controller.signal }));
      sent.then(resolve, reject);
    });
  } catch (error) {
    cleanup();
    // An answer that comes after all is not read (its connection freed).
    void sent?.then((late) => late.body?.cancel()).catch(() => undefined);
    // Some fetch implementations reject with a generic AbortError rather than the signal's reason.
    const reason: unknown = controller.signal.reason;
    if (controller.signal.aborted && reason instanceof FeatError && !outers.some((s) => s.aborted)) throw reason;
    throw error;
  }
  if (!response.body || response.type === 'opaqueredirect' || NULL_BODY.has(response.status) || response.status < 200) {
    cleanup();
    return response;
  }
  answered = true;
  uploading.delete(upload);
  arm();
  // The body is watched too: every chunk that arrives restarts the limit (a long-poll's heartbeats included).
  const body = response.body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      // (`cancel`: Streams spec 2023, in Node ≥ 20 and current browsers; not yet in TypeScript's DOM types.)
      start(output) {
        failBody = (reason) => output.error(reason);
      },
      transform(chunk, output) {
        arm();
        output.enqueue(chunk);
      },
      flush: cleanup,
      // A body cancelled unread (a 401 before a retry, an error's answer) is done with too: its timer and its listener
      // on the client's lifetime go now, not at the limit.
      cancel: cleanup,
    } as Transformer<Uint8Array, Uint8Array>),
  );
  return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
}
