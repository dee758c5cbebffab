/**
 * One maintenance run (loaded on the first run): purge expired values, collect orphaned chunks, compact the local
 * replica. Abort takes effect between steps and between pages of a step.
 */
import { FeatValidationError, toFeatError } from '../errors.js';
import type { ClientIo } from '../export/io.js';
import { CHUNK_PREFIX, HIGH } from '../store/codec.js';
import type { Db } from '../store/db.js';
import { anySignal, throwIfAborted, withSignal } from '../util/abort.js';
import { monotonicNow } from '../util/clock.js';
import { allDocs } from '../export/pages.js';
import { purgeExpired } from './purge.js';
import type { MaintenanceDeps, MaintenanceReport, MaintenanceRunOptions } from './scheduler.js';

const GC_MARK = '_local/feat-gc';

/** What the last garbage collection left in its mark (store/gc.ts). */
interface GcMark {
  since?: Record<string, number>;
  retry?: boolean;
  unrestored?: Record<string, string>;
}

/**
 * True when some chunk was found unreferenced in an earlier garbage collection (it waits for its grace period), or an
 * earlier one could not run (local-first, sync not caught up) or still owes chunks it deleted.
 */
const gcPending = (mark: GcMark | undefined): boolean => mark?.retry === true || Object.keys(mark?.since ?? {}).length > 0;

/**
 * True when there is something to collect: a chunk, or a chunk an earlier collection deleted and still owes the
 * values written meanwhile (`unrestored`: also when it was the last chunk).
 */
async function hasChunks(db: Db, mark: GcMark | undefined): Promise<boolean> {
  if (Object.keys(mark?.unrestored ?? {}).length > 0) return true;
  const rows = (await allDocs(db, { startkey: CHUNK_PREFIX, endkey: CHUNK_PREFIX + HIGH, limit: 1 })).rows;
  return rows.length > 0;
}

/** One run: its report is emitted as `run` whether it succeeds or fails; the promise rejects with the failure. */
export async function runMaintenance(deps: MaintenanceDeps, options: MaintenanceRunOptions): Promise<MaintenanceReport> {
  // (startedAt is a date for the app; the duration is measured on the monotonic clock, which no correction moves.)
  const started = monotonicNow();
  const report: MaintenanceReport = { startedAt: Date.now(), durationMs: 0, purged: 0, chunksDeleted: 0, compacted: false };
  const { signal, dispose } = anySignal([deps.signal, options.signal]);
  try {
    await work(deps.io(), signal, options, report);
    return report;
  } catch (error) {
    throw (report.error = toFeatError(error));
  } finally {
    dispose();
    report.durationMs = monotonicNow() - started;
    deps.emit(report);
  }
}

async function work(io: ClientIo, signal: AbortSignal, options: MaintenanceRunOptions, report: MaintenanceReport): Promise<void> {
  const graceMs = options.chunkGraceMs ?? 10 * 60_000;
  if (typeof graceMs !== 'number' || !(graceMs >= 0)) throw new FeatValidationError('invalid_argument', '"chunkGraceMs" must be a number of ms ≥ 0');
  throwIfAborted(signal);
  const db = await withSignal(io.db(), signal);
  // Writes made before the run are stored first (a failure of theirs was reported to their callers).
  await io.store.flush().catch(() => undefined);

  // 1. Expired values.
  const purge = await purgeExpired(db, { signal, forget: (id) => io.store.forget(id), wrote: io.wrote });
  report.purged = purge.purged;
  throwIfAborted(signal);

  // 2. Orphaned chunks — a full scan, so only when there are chunks and something changed since the last run (which
  //    may have orphaned some) or some found unreferenced earlier wait for their grace period to end.
  const mark = (await db.get(GC_MARK).catch(() => undefined)) as GcMark | undefined;
  if ((purge.changed > 0 || gcPending(mark)) && (await hasChunks(db, mark))) {
    throwIfAborted(signal);
    report.chunksDeleted = (await io.store.collectGarbage({ graceMs, signal })).deleted;
  }
  throwIfAborted(signal);

  // 3. The local replica: drop old revisions' bodies (the server compacts its own databases).
  if (io.local) {
    const compact = (db as unknown as { compact?: () => Promise<unknown> }).compact;
    if (typeof compact === 'function') {
      try {
        await compact.call(db);
      } catch (error) {
        throw toFeatError(error);
      }
      report.compacted = true;
    }
  }
}
