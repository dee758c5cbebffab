/**
 * pouchdb-find lists every design document of the replica (`_all_docs` over `_design/`, with the documents) to plan
 * each query, though they change only when an index is made or replicated. Here the listing is kept in memory with
 * the replica's version it was read at ({@link replicaVersion}: current across tabs), and each query plans on it while
 * the version is read in parallel. The answer stands when the version is unchanged; when something was written
 * since, the listing is read again, and the answer stands if its design documents are the same ones (ids and
 * revisions) — else the query runs again on the new listing. So a query never plans on design documents older than
 * the ones present when it started, as with pouchdb-find's own listing.
 */
import type { Db } from '../store/db.js';
import { replicaVersion } from '../store/replica-version.js';
import { readIndex, type IndexedDbPouch } from './idb-index.js';

type Listing = Awaited<ReturnType<Db['allDocs']>>;

/** An adapter's own Mango index queries, as pouchdb-find calls them (`fallback`: its map/reduce views). */
interface FindMapper {
  query(this: unknown, signature: string, opts: Record<string, unknown>, fallback: unknown): Promise<unknown>;
  viewCleanup(this: unknown, fallback: unknown): Promise<unknown>;
}

/** A listing and the version read before it (so anything written after that version differs from it). */
interface Entry {
  version: number;
  listing: Listing;
  revs: string;
}

const entries = new WeakMap<object, Entry>();

const DESIGN = { startkey: '_design/', endkey: '_design/\uffff', include_docs: true } as const;

/** pouchdb-find's request for the listing, and nothing else (any other option: read as asked). */
function isListing(options: unknown): boolean {
  const o = options as Record<string, unknown> | null;
  if (typeof o !== 'object' || o === null) return false;
  const keys = Object.keys(o);
  return keys.length === 3 && o.startkey === DESIGN.startkey && o.endkey === DESIGN.endkey && o.include_docs === true;
}

const revsOf = (listing: Listing): string => listing.rows.map((row) => `${row.id} ${row.value.rev}`).join('\n');

/** One query's (or one query's pages') view of the replica for pouchdb-find. */
export interface DesignRun {
  /** The replica as pouchdb-find sees it: the design listing from memory when one is kept. */
  readonly db: Db;
  /** The replica's version, read as the run began (`undefined`: unknown). */
  readonly version: Promise<number | undefined>;
  /** The design documents (ids and revisions) the run plans on: what a plan remembered across runs depends on. */
  designs(): Promise<string>;
  /**
   * Whether what the run planned on is current as of {@link version}: true when it read the listing itself or the
   * version is unchanged, or when the listing read again holds the same design documents. False: run the query again.
   */
  current(): Promise<boolean>;
}

/**
 * A run over the replica `pouch`. `fresh`: the listing is read from the replica (a query running again after
 * {@link DesignRun.current} said false, which must not loop).
 */
export function designRun(pouch: Db, fresh = false): DesignRun {
  const version = replicaVersion(pouch);
  version.catch(() => undefined); // read by `current()` and the caller; a closed replica fails the query itself
  let used: Entry | undefined;
  let reading: Promise<Listing> | undefined;
  /** The listing this run planned on. */
  let served: Listing | undefined;
  const read = async (): Promise<Listing> => {
    // The version first: a write landing between the two reads leaves an entry that the next run finds outdated.
    const at = await version;
    const listing = await pouch.allDocs({ ...DESIGN });
    if (at !== undefined) entries.set(pouch, { version: at, listing, revs: revsOf(listing) });
    return listing;
  };
  const listing = (): Promise<Listing> => {
    const entry = fresh ? undefined : entries.get(pouch);
    if (entry) {
      used = entry;
      served = entry.listing;
      return Promise.resolve(entry.listing);
    }
    return (reading ??= read().then((l) => (served = l)));
  };
  const mapper = (pouch as { _customFindAbstractMapper?: FindMapper })._customFindAbstractMapper;
  /**
   * The `indexeddb` adapter's own query of an index, one `getAll`, or pouchdb-find's views where the native index is
   * wrong (query/idb-index.ts), with the planned-on design document.
   */
  const query: FindMapper['query'] = async function (this: unknown, signature, opts, fallback) {
    const [ddocName, view] = signature.split('/') as [string, string | undefined];
    const ddoc = view === undefined ? undefined : served?.rows.find((row) => row.id === `_design/${ddocName}`)?.doc;
    const views = () => (fallback as (signature: string, opts: Record<string, unknown>) => Promise<unknown>)(signature, opts);
    const fast = ddoc ? readIndex(pouch as unknown as IndexedDbPouch, ddoc as never, view!, opts, views) : undefined;
    return (fast && (await fast)) ?? mapper!.query.call(this, signature, opts, fallback);
  };
  // pouch-abstract-mapreduce keeps its views on the database it is given (`_cachedViews`, when missing): on the
  // replica itself, not on this run's view of it.
  const own = pouch as Db & { _cachedViews?: Record<string, unknown> };
  own._cachedViews ??= {};
  const db: Db = Object.create(pouch, {
    allDocs: {
      // pouchdb-find adjusts what it reads (index definitions): each call gets its own copy.
      value: (options: Record<string, unknown>) => (isListing(options) ? listing().then((l) => structuredClone(l)) : pouch.allDocs(options)),
    },
    ...(mapper && (pouch as { adapter?: unknown }).adapter === 'indexeddb' ? { _customFindAbstractMapper: { value: { query, viewCleanup: mapper.viewCleanup } } } : {}),
  }) as Db;
  return {
    db,
    version,
    designs: () => listing().then(revsOf),
    async current() {
      if (!used) return true;
      const at = await version;
      if (at !== undefined && at === used.version) return true;
      const now = entries.get(pouch);
      const again = now && now !== used && at !== undefined && now.version === at ? now : await readAgain(pouch, at);
      return again.revs === used.revs;
    },
  };
}

async function readAgain(pouch: Db, at: number | undefined): Promise<Entry> {
  const listing = await pouch.allDocs({ ...DESIGN });
  const entry = { version: at ?? Number.NaN, listing, revs: revsOf(listing) };
  if (at !== undefined) entries.set(pouch, entry);
  return entry;
}

/** Forgets the listing of `pouch` (an index this session made was found gone). */
export function forgetDesigns(pouch: Db): void {
  entries.delete(pouch);
}
