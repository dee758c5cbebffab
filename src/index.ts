export { createFeatClient } from './client.js';
export type { FeatClient, FeatStore, LogoutOptions, ReadyOptions, Session } from './client.js';
export {
  FeatError,
  FeatConflictError,
  FeatHttpError,
  FeatValidationError,
  isFeatError,
  type FeatErrorCode,
  type FeatErrorContext,
} from './errors.js';
export type { FeatClientOptions, LocalOptions, MaintenanceOptions, Mode, SessionOption } from './options.js';
export type { ExportHeader, ExportLine, ExportOptions, ImportOptions, ImportResult, ImportSource, ProgressEvent } from './export/types.js';
export type { FeatMaintenance, MaintenanceReport, MaintenanceRunOptions } from './maintenance/scheduler.js';
export type { AuthOption } from './session/auth.js';
export type { Conflict, ConflictResolver, ConflictSide } from './store/conflicts.js';
export type { ConflictEvent, SetOptions, SetPartsOptions, SignalOptions, WatchOptions } from './store/store.js';
export type { IndexSpec, Query, QueryResult, Selector, SortField } from './query/validate.js';
export type { FindOptions } from './query/find.js';
export type { WatchQueryOptions } from './query/live.js';
export type { JsonCompatible, SchemaKey } from './store/typed.js';
export type { AcceptedWrite, FeatSync, FeatSyncEvents, WaitForPushOptions } from './sync/controller.js';
export type { StorageInfo } from './sync/device-storage.js';
export type { InitialSyncEvent, SyncEventName, SyncStatus } from './sync/status.js';
export type { ChangeEvent, WatchTarget } from './sync/watch.js';
