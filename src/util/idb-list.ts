import { LATE, within } from './abort.js';

/** What `indexedDB.databases()` tells of a database. */
export interface IdbDatabaseInfo {
  name?: string;
  version?: number;
}

/**
 * The origin's IndexedDB databases (`indexedDB.databases()`), bounded: undefined where there is no IndexedDB or no
 * `databases()`, when it fails, or when it has not answered within `ms`.
 */
export async function idbDatabases(ms = 2_000): Promise<IdbDatabaseInfo[] | undefined> {
  const factory = (globalThis as { indexedDB?: { databases?(): Promise<IdbDatabaseInfo[]> } }).indexedDB;
  if (typeof factory?.databases !== 'function') return undefined;
  const list = await within(Promise.resolve().then(() => factory.databases!()), ms).catch(() => LATE);
  return typeof list === 'symbol' ? undefined : list;
}
