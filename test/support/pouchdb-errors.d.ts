/** pouchdb-errors ships no types: what the storage tests use of it (to fail the way PouchDB's adapters fail). */
declare module 'pouchdb-errors' {
  interface PouchErrorTemplate {
    status: number;
    name: string;
    message: string;
  }
  export const IDB_ERROR: PouchErrorTemplate;
  export const UNKNOWN_ERROR: PouchErrorTemplate;
  export function createError(error: PouchErrorTemplate, reason?: string): Error & { status: number; reason?: string };
}
