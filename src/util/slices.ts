/**
 * Revisions of one document handed to one `bulkDocs` of a local replica at most. PouchDB's adapters write the revisions
 * of one id in a request one after the other by synchronous callbacks (pouchdb-adapter-utils `processDocs`), a few
 * frames each: a document another writer left with 1,500 conflicting branches ran out of stack inside the adapter's
 * callbacks (a RangeError nothing can catch, and the adapter's write queue stays held: the replica never answers
 * again). 300 went through in Node; this leaves room for a Web Worker's smaller stack.
 */
export const REVS_PER_WRITE = 50;

/**
 * `docs` in slices holding at most `perId` revisions of any one id: the first `perId` of each id in the first slice, the
 * next ones in the second… (each id's revisions keep their order; the usual batch, of distinct ids or a few leaves
 * each, is one slice).
 */
export function slicesPerId<T extends { _id?: string }>(docs: T[], perId = REVS_PER_WRITE): T[][] {
  const slices: T[][] = [];
  const seen = new Map<string | undefined, number>();
  for (const doc of docs) {
    const n = seen.get(doc._id) ?? 0;
    seen.set(doc._id, n + 1);
    const i = Math.floor(n / perId);
    (slices[i] ??= []).push(doc);
  }
  return slices;
}
