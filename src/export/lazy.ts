/**
 * What `client.ts` loads on first use of export, import or maintenance (or when the first maintenance timer fires):
 * one chunk, reached through one small forwarder, so the core bundle carries almost nothing of it.
 */
import { closedError, FeatValidationError, type FeatError } from '../errors.js';
import { Maintenance, type MaintenanceClient, type MaintenanceRunOptions } from '../maintenance/scheduler.js';
import type { ResolvedOptions } from '../options.js';
import type { Db } from '../store/db.js';
import type { DocumentStore } from '../store/store.js';
import type { Session } from '../session/session.js';
import type { SyncEvents } from '../sync/status.js';
import type { Emitter } from '../util/emitter.js';
import { checkOptions as copyOptions } from '../store/store.js';
import { exportData, exportLines } from './export.js';
import { importData } from './import.js';
import type { ClientIo } from './io.js';
import type { ExportOptions, ImportOptions, ImportSource } from './types.js';

export type Extras = ReturnType<typeof extras>;

/**
 * `due`: loaded by the client's maintenance timer, so the first run is due now (else `intervalMs` from now);
 * `emitter`: the client's, which carries the `run` and `error` events; `db` and `wrote`: the client's private
 * `#db()` and its record of its own revisions.
 */
export function extras(
  client: MaintenanceClient & { ready(): Promise<Session>; readonly store: DocumentStore },
  options: ResolvedOptions,
  due: boolean | undefined,
  emitter: Emitter<SyncEvents>,
  db: () => Promise<Db>,
  wrote: (id: string, rev: string, deleted?: boolean) => void,
) {
  // As the client reports background failures: to `error` listeners, else logged (network failures excepted).
  const warn = (error: FeatError, what = '') => {
    if (emitter.listenerCount('error') > 0) emitter.emit('error', error);
    else if (error.code !== 'network') console.warn(`[@feat/sdk] ${what}${error.code}: ${error.message}`);
  };
  const io: ClientIo = { db, session: () => client.ready(), store: client.store, local: options.mode === 'local-first', wrote, warn };
  // Aborted by the client's close(), through close() below.
  const lifetime = new AbortController();
  const maintenance = new Maintenance({
    client,
    due: due === true,
    options: options.maintenance,
    io: () => io,
    error: (error) => warn(error, 'maintenance: '),
    emit: (report) => emitter.emit('run', report),
    signal: lifetime.signal,
  });
  return {
    // `format: 'lines'`: the lines as an async iterable (streamed a page at a time), else the whole text.
    exportData: async (options?: ExportOptions & { format?: 'text' | 'lines' }) => {
      // Read once (a getter or Proxy that throws: invalid_argument).
      const opts = copyOptions(options, 'exportData') as ExportOptions & { format?: unknown };
      const format = opts.format ?? 'text';
      if (format !== 'text' && format !== 'lines') throw new FeatValidationError('invalid_argument', '"format" must be "text" or "lines"');
      return format === 'lines' ? exportLines(io, opts) : exportData(io, opts);
    },
    importData: (data: ImportSource, opts?: ImportOptions) => importData(io, data, opts, lifetime.signal),
    run: (opts?: MaintenanceRunOptions) => maintenance.run(opts),
    pause: () => maintenance.pause(),
    resume: () => maintenance.resume(),
    close: () => {
      lifetime.abort(closedError());
      return maintenance.close();
    },
  };
}
