// pouchdb-selector-core and pouchdb-collate, as the query modules (src/query) use them.
declare module 'pouchdb-selector-core' {
  export function matchesSelector(doc: unknown, selector: Record<string, unknown>): boolean;
  export function getFieldFromDoc(doc: unknown, parsedField: string[]): unknown;
  export function parseField(field: string): string[];
}
declare module 'pouchdb-collate' {
  export function collate(a: unknown, b: unknown): number;
}
