/**
 * A server database that lost what this replica already exchanged with it: re-created empty, or restored from an
 * older backup (an admin's restore, a replication back from a copy). The replica's checkpoints live on the device
 * only, so live sync would carry on from them: what was pushed before never went back (and `pending()` said 0), and a
 * read position past the server's current sequence missed new changes. Checked when sync starts and after a failure
 * (a database deleted and made again fails the live feeds first); when the server is behind, both checkpoints go
 * back to the start: the push side sends what the server lacks (`_revs_diff` keeps it to that), the pull side reads
 * the server's changes again (revisions the replica has are not written twice).
 */
import type { Db, ReplicaDb } from '../store/db.js';
import { readSeq, type Seq } from './live-loop.js';
import { PULL_CHECKPOINT } from './live-pull.js';
import { isDesign, PUSH_CHECKPOINT, VERIFIED_MARKER } from './live-push.js';

/** Recent pushed changes asked about (`_revs_diff`): enough to see a restore, one small request. */
const SAMPLE = 20;

/** The number in front of a sequence (CouchDB's opaque `N-g1AAA…`, or an integer). */
const seqNumber = (seq: unknown): number | undefined => {
  const n = typeof seq === 'number' ? seq : typeof seq === 'string' ? Number.parseInt(seq, 10) : Number.NaN;
  return Number.isFinite(n) ? n : undefined;
};

/** The server database this replica syncs with: CouchDB's `instance_start_time` (when it was created). */
const SERVER_MARKER = '_local/feat-server';

/**
 * `behind` when the server's database is behind what this replica pushed to it or read from it: made again since (its
 * `instance_start_time` changed), its sequence below the one read up to, or recent pushed revisions missing from it;
 * `in-step` when the recent pushed revisions are there; `unknown` when nothing was pushed to compare (since the
 * checkpoints went back to the start).
 */
export async function compare(local: Db, remote: Db): Promise<'behind' | 'in-step' | 'unknown'> {
  const [pull, push, verified, info, known] = await Promise.all([
    readSeq(local, PULL_CHECKPOINT),
    readSeq(local, PUSH_CHECKPOINT),
    readSeq(local, VERIFIED_MARKER),
    remote.info(),
    local.get(SERVER_MARKER).catch(() => undefined) as Promise<{ _rev?: string; instance?: unknown } | undefined>,
  ]);
  const instance = typeof info.instance_start_time === 'string' && info.instance_start_time !== '0' ? info.instance_start_time : undefined;
  if (instance !== undefined && known?.instance !== instance) {
    if (typeof known?.instance === 'string') return 'behind';
    // First seen: remembered (best effort).
    await local.put({ _id: SERVER_MARKER, ...(known?._rev ? { _rev: known._rev } : {}), instance } as never).catch(() => undefined);
  }
  const read = seqNumber(pull.seq);
  const now = seqNumber(info.update_seq);
  if (read !== undefined && now !== undefined && read > now) return 'behind';
  const pushed = Math.max(Number(push.seq) || 0, Number(verified.seq) || 0);
  if (pushed <= 0) return 'unknown';
  // The last changes the push side is past, as the replica has them now (a later change of a document is not past).
  const recent = (await local.changes({ since: Math.max(0, pushed - SAMPLE), limit: SAMPLE, return_docs: true })) as {
    results: { id: string; seq: Seq; deleted?: boolean; changes: { rev: string }[] }[];
  };
  const diff: Record<string, string[]> = {};
  const removals = new Set<string>();
  for (const change of recent.results) {
    // Values with a ttl count too: maintenance deletes an expired value by a new revision, which keeps this one in the
    // document's history (the SDK never purges). Not index definitions (the server may refuse them: live-push.ts).
    if ((seqNumber(change.seq) ?? Infinity) > pushed || isDesign(change.id)) continue;
    const rev = change.changes[0]?.rev;
    if (!rev) continue;
    Object.defineProperty(diff, change.id, { value: [rev], enumerable: true });
    if (change.deleted) removals.add(change.id);
  }
  const ids = Object.keys(diff);
  if (ids.length === 0) return 'unknown';
  const missing = await (remote as ReplicaDb).revsDiff(diff);
  let lacks = ids.filter((id) => (missing[id]?.missing?.length ?? 0) > 0);
  if (lacks.length) {
    // A revision the server no longer knows while it holds a later one of the document (another device edited it past
    // `_revs_limit`, and stemming dropped this one from its history): not lost by a restore. One look at them.
    const { rows } = await remote.allDocs({ keys: lacks });
    const generation = (rev: unknown) => (typeof rev === 'string' ? Number.parseInt(rev, 10) || 0 : 0);
    lacks = lacks.filter((id, i) => generation((rows[i] as { value?: { rev?: unknown } } | undefined)?.value?.rev) < generation(diff[id]![0]));
  }
  // A removal missing alone may be an operator's purge of tombstones (CouchDB's `_purge`), not a restore, which loses
  // the values written with it too: removals count when nothing else was written of late (every one missing then).
  const behind = lacks.some((id) => !removals.has(id)) || (removals.size === ids.length && lacks.length === ids.length);
  return behind ? 'behind' : 'in-step';
}

/** Sends the replica's checkpoints back to the start (the push tracker forgets what it verified: `reset`). */
export async function restartFromScratch(local: Db): Promise<void> {
  for (const id of [PUSH_CHECKPOINT, PULL_CHECKPOINT, VERIFIED_MARKER, SERVER_MARKER]) {
    const doc = (await local.get(id).catch(() => undefined)) as { _rev?: string } | undefined;
    if (doc?._rev) await local.put({ _id: id, _rev: doc._rev, _deleted: true } as never);
  }
}
