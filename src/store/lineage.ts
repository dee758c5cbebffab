/**
 * Lineage: what a document's revision history no longer says once CouchDB or PouchDB stemmed it (each keeps the last
 * `_revs_limit` revisions, 1,000 by default; an operator may lower the server's). A device that edits a key more times
 * than that on top of revision v0 pushes (or another pulls) a history that no longer reaches v0, and v0 shows up again
 * as a second leaf: a conflict that is not one. Small marks in `feat` let the SDK recognise such a leaf:
 *
 * - `by`: the writer — a random id per client (per store instance, never kept: a replica copied to another device, or
 *   restored from an older backup of the device, starts new runs instead of continuing one another device continues);
 * - `from`: where the writer's run of edits started — the revision of another writer (or of a resolution, which
 *   carries no marks) it first wrote on top of, or a random token when it wrote without a known parent; kept along the
 *   run;
 * - `n`: the writer's count of its writes — strictly increasing for every write the process stamps (in memory only,
 *   like `by`), so one writer's edits are ordered without its wall clock, which an NTP correction may set back;
 * - `anc`: the runs the writer's run went on top of, newest first, at most ANCESTRY of them — for each, the place of
 *   the revision it started on (`<by>:<n>:<from>`: that revision's writer, count and run). A run of another writer
 *   (another device, or this device's app started again: a new writer id) that goes on top of the first's run carries
 *   it, so that a leaf older than both is still known for an ancestor.
 *
 * Leaf P is an ancestor of leaf Q (superseded: deleted, not a conflict) when Q's generation is higher and either Q's
 * run started from P (`Q.from === P._rev`), or both are of one run of one writer (same `by`, same `from`) and Q was
 * written later (higher `n`), or P is one of Q's earlier runs (`anc`): the revision at its place, where it started,
 * or of it before the place (same `by` and `from`, a lower `n`). Why that is sound: a write continues a run only on top of a revision of that very run
 * (its parent's marks, as this client wrote or read them); on top of any other revision — another writer's, a
 * resolution's (resolve-leaves.ts writes none), one of unknown marks — it starts a new run from that revision. And a
 * writer's writes go on top of its own database's current revision (a stale one is refused, 409, and resolved on top
 * of the current one: resolve-write.ts), so within one run each write descends from every earlier one.
 * Every mark is checked (anything may write `feat`): a leaf with marks not of this shape is compared as before, and
 * leaves of one run without `n` (written by an earlier version) are ordered by `updatedAt` as before.
 * `updatedAt` stays the writer's clock: a value a fast clock stamped that meets its descendant again is dropped by
 * these marks, not by time (raising each write to its parent's time + 1 would carry a fast clock's lead to every later
 * edit of the key, and with it the "stamped ahead of this device's clock" rule of a write conflict: resolve-write.ts).
 */
import { hex } from '../util/hash.js';
import { decode, isUnheld, storedPrint, type FeatMeta, type StoredDoc, type WriteOp } from './codec.js';

/** What a write needs of the revision it goes on top of. */
export interface Parent {
  rev: string;
  by?: string | undefined;
  from?: string | undefined;
  n?: number | undefined;
  anc?: string[] | undefined;
  /** Written by this client (its own write): only then does a write continue the run its marks name. */
  mine?: boolean | undefined;
}

/** How many earlier runs a revision names (`anc`): each hand-over of a key between writers adds one. */
const ANCESTRY = 4;

const WRITER = /^[0-9a-f]{16,64}$/;
/** A revision (`<gen>-<hash>`), or a run's own origin token (`~<hex>`). */
const ORIGIN = /^(?:[1-9]\d{0,9}-[0-9a-zA-Z]{1,64}|~[0-9a-f]{16,64})$/;
/** An earlier run's place (`anc`): `<by>:<n>:<from>`, a writer and an origin as above. */
const PLACE = new RegExp(`^(${WRITER.source.slice(1, -1)}):([1-9]\\d{0,15}):(${ORIGIN.source.slice(1, -1)})$`);

interface Place {
  by: string;
  n: number;
  from: string;
}

/** The last `n` stamped: one count for the process, so strictly increasing for each of its writers. */
let count = 0;

/** A new writer id (or origin token): 16 random hex digits. */
export const randomId = (): string => hex(crypto.getRandomValues(new Uint8Array(8)));

/** The valid marks of a stored revision (`undefined` each when absent or not of the SDK's shape). */
export function marksOf(meta: FeatMeta | undefined): { by: string | undefined; from: string | undefined; n: number | undefined; anc: string[] | undefined } {
  const by = typeof meta?.by === 'string' && WRITER.test(meta.by) ? meta.by : undefined;
  const from = by !== undefined && typeof meta?.from === 'string' && ORIGIN.test(meta.from) ? meta.from : undefined;
  const n = from !== undefined && typeof meta?.n === 'number' && Number.isSafeInteger(meta.n) && meta.n > 0 ? meta.n : undefined;
  // (All or none: a list not of this shape is not read.)
  const list: unknown = meta?.anc;
  const anc = n !== undefined && Array.isArray(list) && list.length <= ANCESTRY && list.every((a) => typeof a === 'string' && PLACE.test(a)) ? (list as string[]) : undefined;
  return { by: from === undefined ? undefined : by, from, n, anc };
}

const placeOf = (a: string): Place => {
  const [, by, n, from] = PLACE.exec(a)!;
  return { by: by!, n: Number(n), from: from! };
};

/** A stored revision as a write's parent; `mine` when this client wrote it. */
export function parentOf(raw: StoredDoc | undefined, mine = false): Parent | undefined {
  if (!raw?._rev) return undefined;
  const { by, from, n, anc } = marksOf(raw.feat);
  return { rev: raw._rev, by, from, n, anc, mine };
}

/**
 * Marks a write going on top of `parent` (`undefined`: none known) by writer `op.by`: its `from` continues the
 * writer's run or starts one, its `n` counts it after every write stamped before. Called again when the write is
 * retried on top of another revision (a new `n`: it is a later write than any stamped meanwhile).
 */
export function stamp(op: WriteOp, parent: Parent | undefined): void {
  // A default carries no marks: devices that store the same default write the very same revision (PouchDB derives
  // its id from the content), as before — no conflict between them, and two defaults still tie as before.
  if (op.by === undefined || op.at === 0) {
    op.from = op.n = op.anc = undefined;
    return;
  }
  // (Only on a revision it wrote itself: another app that copied the document's `feat` claims the writer's run, and a
  // write continuing it would make one writer's run branch.)
  if (parent?.mine && parent.by === op.by && parent.from !== undefined) {
    op.from = parent.from;
    op.anc = parent.anc;
  } else {
    op.from = parent ? parent.rev : `~${randomId()}`;
    // The run gone on top of (its place), then the ones it went on top of.
    op.anc = parent?.by !== undefined && parent.from !== undefined && parent.n !== undefined ? [`${parent.by}:${parent.n}:${parent.from}`, ...(parent.anc ?? [])].slice(0, ANCESTRY) : undefined;
  }
  op.n = ++count;
}

const generation = (rev: string | undefined): number => (rev === undefined ? 0 : Number.parseInt(rev, 10) || 0);

interface Marked {
  rev: string;
  gen: number;
  /** Its `updatedAt`. */
  at: number;
  by: string | undefined;
  from: string | undefined;
  n: number | undefined;
  anc: string[] | undefined;
}

/**
 * True when `q` descends from `p` by the marks alone (see the module's comment). Within one run of one writer the
 * generation alone is not enough: another app that edits a document keeping its `feat` (a read-modify-write of the
 * whole body) writes a revision that claims the run but keeps the old `n` — taken for a descendant, it would delete a
 * device's real edit made meanwhile without asking the resolver. Marks without `n` (an earlier version's) are ordered
 * by the writer's clock, as that version did.
 */
const later = (q: Marked, p: Marked): boolean => (q.n !== undefined && p.n !== undefined ? q.n > p.n : q.at > p.at);
/**
 * P is an earlier run's revision at place `a` (`rev`: where the later run started — Q's own `from` for the first place,
 * the previous place's run's `from` for the next), where that run started, or of that run with a lower count. (Not an
 * equal count: another app's edit that kept the document's `feat` claims the place it went on top of.)
 */
const within = (a: Place, rev: string, p: Marked): boolean =>
  p.rev === rev || p.rev === a.from || (a.by === p.by && a.from === p.from && p.n !== undefined && p.n < a.n);
const inEarlierRun = (q: Marked, p: Marked): boolean => {
  let rev = q.from!;
  for (const a of q.anc ?? []) {
    const place = placeOf(a);
    if (within(place, rev, p)) return true;
    rev = place.from;
  }
  return false;
};
const supersedes = (q: Marked, p: Marked): boolean =>
  q.gen > p.gen && q.from !== undefined && (q.from === p.rev || (q.by === p.by && q.from === p.from && later(q, p)) || inEarlierRun(q, p));

/**
 * The marks of `l` stand for its content: written with it (`feat.h`, the content's fingerprint, matches), or written by
 * an earlier version (no `h`). Another app (an admin in Fauxton) that edits the value and keeps `feat` as it read it
 * writes a revision whose marks claim the SDK revision it edited — its place in that writer's run: taken at its word,
 * a later edit of that run (or a run that went on from a later place of it) would drop it without the resolver.
 * (Only here, where a leaf may be dropped: a write's parent's marks, as anc's place, name that parent's ancestors,
 * which the edited revision's also are.) A revision the replica holds without its value (too deep for it: codec.ts
 * `isUnheld`) keeps the marks it came with.
 */
const vouched = (l: StoredDoc): boolean => l.feat?.h === undefined || isUnheld(l) || l.feat.h === storedPrint(l);

/**
 * The revisions among `leaves` (a document's leaves, deleted ones included) that another leaf descends from although
 * the history kept no longer links them. Never the leaf of the highest generation: at least one leaf stays.
 */
export function supersededRevs(leaves: StoredDoc[]): Set<string> {
  const out = new Set<string>();
  const all: Marked[] = leaves.flatMap((l) => (l._rev ? [{ rev: l._rev, gen: generation(l._rev), at: decode(l).updatedAt, ...marksOf(vouched(l) ? l.feat : undefined) }] : []));
  const marked = all.filter((l) => l.from !== undefined);
  if (marked.length === 0) return out;
  for (const p of all) if (marked.some((q) => supersedes(q, p))) out.add(p.rev);
  return out;
}
