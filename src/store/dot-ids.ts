/**
 * Document ids `.` and `..` cannot be named in a URL: URL parsers (the WHATWG URL of `fetch`, browsers, undici) remove
 * them as dot segments, and treat `%2E` the same way, so `GET /{db}/.` reaches `GET /{db}/` (and a PUT, `/`). Over
 * the server's database these two ids are read and written with requests that carry the id in the body instead.
 */
import type { StoredDoc } from './codec.js';
import type { Db } from './db.js';

const isDotId = (id: string): boolean => id === '.' || id === '..';

const notFound = (id: string) => Object.assign(new Error(`missing: ${id}`), { status: 404, name: 'not_found', error: 'not_found', reason: 'missing' });

interface BulkGetDb {
  bulkGet(options: { docs: { id: string; rev?: string }[]; revs?: boolean }): Promise<{
    results: { id: string; docs: { ok?: StoredDoc; error?: unknown }[] }[];
  }>;
}

const wrapped = new WeakMap<Db, Db>();

/** `db` with `get` and `put` of the ids `.` and `..` sent through `_all_docs`, `_bulk_get` and `_bulk_docs`. */
export function dotSafe(db: Db): Db {
  let safe = wrapped.get(db);
  if (safe) return safe;
  safe = {
    // PouchDB reads an `undefined` options argument as given: arguments are passed on as they came.
    async get(...args) {
      const [id, options] = args;
      if (!isDotId(id)) return db.get(...args);
      // (`deleted_conflicts`: `_all_docs` lists no deleted leaves; those of `.` and `..` wait for a local-first device.)
      const { rev, revs, conflicts, deleted_conflicts: _deleted, ...rest } = options ?? {};
      if (Object.keys(rest).length > 0) throw new Error(`Reading "${id}" with ${Object.keys(rest).join(', ')} is not supported`);
      if (rev === undefined) {
        const row = (await db.allDocs({ keys: [id], include_docs: true, ...(conflicts ? { conflicts: true } : {}) })).rows[0];
        if (!row?.doc || row.error || row.value.deleted) throw notFound(id);
        return row.doc;
      }
      const result = await (db as unknown as BulkGetDb).bulkGet({ docs: [{ id, rev: rev as string }], revs: revs === true });
      const doc = result.results[0]?.docs[0]?.ok;
      if (!doc) throw notFound(id);
      return doc;
    },
    async put(...args) {
      const [doc] = args;
      if (!isDotId(doc._id)) return db.put(...args);
      const [r] = await db.bulkDocs([doc]);
      if (!r || r.error || !r.rev) throw Object.assign(new Error(r?.message ?? `Writing "${doc._id}" failed`), r ?? {});
      return { ok: true, id: doc._id, rev: r.rev };
    },
    bulkDocs: (...args) => db.bulkDocs(...args),
    allDocs: (...args) => db.allDocs(...args),
    changes: (...args) => db.changes(...args),
    info: () => db.info(),
    close: () => db.close(),
    destroy: () => db.destroy(),
  };
  wrapped.set(db, safe);
  return safe;
}
