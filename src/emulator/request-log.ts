/**
 * Observation: every request any service answers is recorded (for tests and benchmarks) and optionally logged.
 * Nothing recorded or logged contains headers, so tokens, bearers and the secret never appear.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LogSink } from './options.js';

export type ServiceName = 'couch' | 'accounts' | 'api';

export interface RequestRecord {
  service: ServiceName;
  method: string;
  /** URL path without the query string. */
  path: string;
  /** Final status; for a response cut off by the client or by `suspend()`, the status that was being sent. */
  status: number;
  /** Request body bytes received. */
  bytesIn: number;
  /** Response body bytes sent. */
  bytesOut: number;
  /** When the request arrived (ms since the epoch). */
  at: number;
  /** How long the response took (ms). */
  durationMs: number;
  /** False when the connection closed before the response was complete (aborted long-poll, suspend, …). */
  completed: boolean;
}

export interface ServiceStats {
  requests: number;
  bytesIn: number;
  bytesOut: number;
}

export interface EmulatorStats extends ServiceStats {
  byService: Record<ServiceName, ServiceStats>;
  /** Request counts per status code, e.g. `{ '200': 12, '401': 1 }`. */
  byStatus: Record<string, number>;
}

const bodyBytes = new WeakMap<IncomingMessage, number>();

/** Called by body readers so the log reports what was actually received. */
export function noteBytesIn(req: IncomingMessage, bytes: number): void {
  bodyBytes.set(req, bytes);
}

function chunkLength(chunk: unknown, encoding?: unknown): number {
  if (chunk === undefined || chunk === null || typeof chunk === 'function') return 0;
  if (typeof chunk === 'string') return Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
  if (chunk instanceof Uint8Array) return chunk.byteLength;
  return 0;
}

/** Longest path a record keeps (longer ones are cut and end with `…`). */
export const MAX_RECORDED_PATH = 1024;

const emptyStats = (): EmulatorStats => {
  const empty = (): ServiceStats => ({ requests: 0, bytesIn: 0, bytesOut: 0 });
  return { ...empty(), byService: { couch: empty(), accounts: empty(), api: empty() }, byStatus: {} };
};

/**
 * The records of the last `maxRecords` requests (oldest dropped first, paths cut at {@link MAX_RECORDED_PATH}) and the
 * totals of every request since the last reset, so memory stays bounded however long the emulator runs.
 */
export class RequestLog {
  readonly #records: RequestRecord[] = [];
  /** Records before this index are dropped already (removed in batches, so each request costs O(1) on average). */
  #dropped = 0;
  readonly #sink: LogSink | undefined;
  readonly #maxRecords: number;
  #totals = emptyStats();

  constructor(sink: LogSink | undefined, maxRecords = 10_000) {
    this.#sink = sink;
    this.#maxRecords = maxRecords;
  }

  /** The kept records, oldest first. */
  get requests(): readonly RequestRecord[] {
    this.#compact();
    return this.#records;
  }

  reset(): void {
    this.#records.length = 0;
    this.#dropped = 0;
    this.#totals = emptyStats();
  }

  stats(): EmulatorStats {
    return structuredClone(this.#totals);
  }

  #add(r: RequestRecord): void {
    const out = this.#totals;
    for (const s of [out, out.byService[r.service]]) {
      s.requests += 1;
      s.bytesIn += r.bytesIn;
      s.bytesOut += r.bytesOut;
    }
    out.byStatus[String(r.status)] = (out.byStatus[String(r.status)] ?? 0) + 1;
    if (this.#maxRecords === 0) return;
    this.#records.push(r);
    // Exactly the newest `maxRecords` are kept; the oldest are removed from the array in batches.
    if (this.#records.length - this.#dropped > this.#maxRecords) this.#dropped += 1;
    if (this.#dropped >= Math.max(64, this.#maxRecords)) this.#compact();
  }

  #compact(): void {
    if (this.#dropped === 0) return;
    this.#records.splice(0, this.#dropped);
    this.#dropped = 0;
  }

  /** Writes a line to the log sink, if any. Callers never pass credentials. */
  line(text: string): void {
    this.#sink?.(text);
  }

  /** Starts observing one request; the record is added when the response finishes or the connection closes. */
  observe(service: ServiceName, req: IncomingMessage, res: ServerResponse): void {
    const at = Date.now();
    let bytesOut = 0;
    const write = res.write.bind(res) as (...args: unknown[]) => boolean;
    const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
    res.write = ((...args: unknown[]) => {
      bytesOut += chunkLength(args[0], args[1]);
      return write(...args);
    }) as typeof res.write;
    res.end = ((...args: unknown[]) => {
      bytesOut += chunkLength(args[0], args[1]);
      return end(...args);
    }) as typeof res.end;

    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      const declared = Number(req.headers['content-length'] ?? 0);
      const path = q === -1 ? url : url.slice(0, q);
      const record: RequestRecord = {
        service,
        method: req.method ?? 'GET',
        path: path.length > MAX_RECORDED_PATH ? `${path.slice(0, MAX_RECORDED_PATH - 1)}…` : path,
        status: res.statusCode,
        bytesIn: bodyBytes.get(req) ?? (Number.isFinite(declared) ? declared : 0),
        bytesOut,
        at,
        durationMs: Date.now() - at,
        completed: res.writableFinished,
      };
      this.#add(record);
      if (this.#sink) {
        const cut = record.completed ? '' : ' (closed early)';
        this.#sink(
          `[${service}] ${record.method} ${record.path} ${record.status} in=${record.bytesIn}B out=${record.bytesOut}B ${record.durationMs}ms${cut}`,
        );
      }
    };
    res.on('finish', finish);
    res.on('close', finish);
  }
}
