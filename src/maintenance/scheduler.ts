import { abortError, closedError, type FeatError } from '../errors.js';
import type { ClientIo } from '../export/io.js';
import type { MaintenanceOptions } from '../options.js';
import { checkSignal, withSignal } from '../util/abort.js';
import { checkOptions } from '../store/store.js';
import { runMaintenance } from './run.js';

/** One maintenance run, as emitted on `client.maintenance.on('run')`. */
export interface MaintenanceReport {
  /** When the run started, ms since the epoch. */
  startedAt: number;
  durationMs: number;
  /** Expired values deleted. */
  purged: number;
  /** Orphaned chunk documents deleted. */
  chunksDeleted: number;
  /** The local replica was compacted (local-first mode; the server compacts its own databases). */
  compacted: boolean;
  /** Why the run failed (it stopped there; what it did before is counted above). */
  error?: FeatError;
}

export interface MaintenanceRunOptions {
  /** Aborts the run (between its steps and pages) with `aborted`. */
  signal?: AbortSignal | undefined;
  /**
   * How long a chunk must have been found unreferenced, in an earlier run, before it is deleted (see docs/architecture.md).
   * @default 600_000 (10 minutes)
   */
  chunkGraceMs?: number | undefined;
}

/** `client.maintenance`: the scheduled upkeep of the user's data (expired values, orphaned chunks, replica size). */
export interface FeatMaintenance {
  /** Calls `listener` with the report of every run (scheduled or not); returns the unsubscribe function. */
  on(event: 'run', listener: (report: MaintenanceReport) => void): () => void;
  /**
   * Runs now (even while paused) and resolves with the report; rejects with the run's error. A call while a run is in
   * progress joins that run: two runs never overlap.
   */
  run(options?: MaintenanceRunOptions): Promise<MaintenanceReport>;
  /** Stops scheduled runs (a run in progress finishes). */
  pause(): void;
  /** Schedules runs again, the next one `intervalMs` from now. */
  resume(): void;
}

/** The client's public state the scheduler looks at. */
export interface MaintenanceClient {
  readonly session: unknown;
  readonly sync: { readonly status: string; readonly leader: boolean };
  readonly store: { readonly pendingWrites: number };
}

export interface MaintenanceDeps {
  /** The client, for its public state: session, sync status, queued writes. */
  client: MaintenanceClient;
  /** A run is due now (the scheduler was loaded by the client's first maintenance timer); else in `intervalMs`. */
  due: boolean;
  options: MaintenanceOptions | undefined;
  /** What a run works on. */
  io(): ClientIo;
  /** Failures of scheduled runs. */
  error(error: FeatError): void;
  /** Emits a report (the client's `run` event). */
  emit(report: MaintenanceReport): void;
  /** The client's lifetime: aborted by `close()`, which stops a run in progress. */
  signal: AbortSignal;
}

/** How soon a scheduled run that found the client busy is tried again. */
const BUSY_RETRY_MS = 30_000;

/**
 * The scheduler (loaded when the client's first maintenance timer fires, or on first use of `client.maintenance`): a
 * timer (unref'd in Node) that starts a run when the client is idle, and the runs' single flight. Created once per
 * client, by `export/lazy.ts`.
 */
export class Maintenance implements Omit<FeatMaintenance, 'on'> {
  #deps: MaintenanceDeps;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #interval: number;
  #paused: boolean;
  /**
   * The run in progress, shared by every caller: it stops (`stop`) only once every caller waiting for it has aborted
   * its own signal (a caller without one, or the timer, keeps it going). A caller that joins it gets its report.
   */
  #current: { report: Promise<MaintenanceReport>; waiting: number; stop: AbortController } | undefined;

  constructor(deps: MaintenanceDeps) {
    this.#deps = deps;
    this.#interval = deps.options?.intervalMs ?? 300_000;
    this.#paused = deps.options?.enabled === false || deps.signal.aborted;
    this.#schedule(deps.due ? 0 : this.#interval);
  }

  /** True while scheduled runs are off. */
  get paused(): boolean {
    return this.#paused;
  }

  run(given?: MaintenanceRunOptions): Promise<MaintenanceReport> {
    if (this.#deps.signal.aborted) return Promise.reject(closedError());
    // Thrown inside the client's `.then()`: a rejection.
    const options: MaintenanceRunOptions = checkOptions(given, 'run');
    checkSignal(options.signal);
    // An already aborted signal starts nothing (no run, so no client start either).
    if (options.signal?.aborted) return Promise.reject(abortError(options.signal));
    if (!this.#current || this.#current.stop.signal.aborted) {
      // A run every caller left is stopping: a new one starts once it has stopped (runs never overlap).
      const stopping = this.#current?.report.catch(() => undefined);
      const stop = new AbortController();
      const start = () => runMaintenance(this.#deps, { ...options, signal: stop.signal });
      const current = { stop, waiting: 0, report: stopping ? stopping.then(start) : start() };
      this.#current = current;
      // Callers that stopped waiting (their signal) leave the outcome to the `run` event.
      current.report.finally(() => this.#current === current && (this.#current = undefined)).catch(() => undefined);
    }
    const current = this.#current;
    const signal = options.signal;
    current.waiting++;
    if (signal) {
      const leave = () => --current.waiting === 0 && current.stop.abort(signal.reason);
      if (signal.aborted) leave();
      else {
        signal.addEventListener('abort', leave, { once: true });
        current.report.finally(() => signal.removeEventListener('abort', leave)).catch(() => undefined);
      }
    }
    return withSignal(current.report, signal);
  }

  pause(): void {
    this.#paused = true;
    clearTimeout(this.#timer);
  }

  resume(): void {
    if (this.#deps.signal.aborted) return;
    this.#paused = false;
    this.#schedule(this.#interval);
  }

  /** Stops the timer and waits for a run in progress (aborted by the client's lifetime signal) to stop. */
  async close(): Promise<void> {
    this.pause();
    await this.#current?.report.catch(() => undefined);
  }

  /** Ready, not closing, sync idle (online, nothing transferring), no writes queued. */
  #idle(): boolean {
    const { client, signal } = this.#deps;
    // Only the tab that leads the replica's sync (README "Several tabs").
    return !!client.session && !signal.aborted && client.sync.leader && client.sync.status === 'idle' && client.store.pendingWrites === 0;
  }

  #schedule(ms: number): void {
    clearTimeout(this.#timer);
    if (this.#paused) return;
    this.#timer = setTimeout(() => this.#tick(), ms);
    (this.#timer as { unref?: () => void }).unref?.();
  }

  #tick(): void {
    if (this.#current || !this.#idle()) return this.#schedule(Math.min(this.#interval, BUSY_RETRY_MS));
    this.run().then(
      () => this.#schedule(this.#interval),
      (failure: FeatError) => {
        if (this.#deps.signal.aborted) return;
        this.#deps.error(failure);
        this.#schedule(this.#interval);
      },
    );
  }
}
