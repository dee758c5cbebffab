import { toFeatError, type FeatError } from '../errors.js';
import type { Db, ReplicaDb } from '../store/db.js';
import { within } from '../util/abort.js';
import { remember } from '../util/remember.js';
import { compare, restartFromScratch } from './continuity.js';
import { LivePull, type PulledDoc } from './live-pull.js';
import { readSeq, type Seq } from './live-loop.js';
import { LivePush, PUSH_CHECKPOINT } from './live-push.js';
import { statusForError, type SyncStatus } from './status.js';
import { toStorageAwareError } from './storage-errors.js';
import { monotonicNow } from '../util/clock.js';

type Direction = 'push' | 'pull';

/**
 * The server's database is checked for a re-creation or a restore (continuity.ts) this often while idle, at most four
 * times as often while changes go through, and at once after a failure.
 */
const CONTINUITY_EVERY_MS = 60_000;

/** How many documents' pulled (and pushed) revisions are remembered. */
const PULLED_KEPT = 50_000;
/** Pulled revisions remembered per document (a few leaves' worth: a resolution's kept value and its deletions). */
const PULLED_PER_DOC = 16;

interface Replication extends PromiseLike<unknown> {
  on(event: string, listener: (arg: never) => void): Replication;
  cancel(): void;
}

export interface ReplicatorEvents {
  status(status: SyncStatus): void;
  error(error: FeatError): void;
  /** Documents the pull is about to write to the replica (`pulled` follows once they are written). */
  arriving?(docs: { _id: string; _rev: string }[]): void;
  /** Documents that arrived from the server. */
  pulled(docs: { _id: string; _rev: string }[]): void;
  /** The push side wrote a batch or went idle. */
  pushed(): void;
  /** The server had lost changes (re-created, restored from a backup): sync starts over from the beginning. */
  rewound(): void;
  /** A revision the server refused and that is not sent again (an index definition: live-push.ts). */
  givenUp(id: string, rev: string): void;
  /** A pulled revision written without its value: nested too deep for the replica (live-pull.ts `MAX_PULLED_DEPTH`). */
  tooDeep?(id: string, rev: string): void;
  /** A pulled document with hundreds of leaves, to resolve on the server first (live-pull.ts `MAX_LEAVES`). */
  crowded?(id: string): Promise<void>;
  /** A value the push found too large for a request (first refusal of its revision): cut it for the current limits. */
  tooLarge?(id: string): void;
}

/** Capped exponential backoff for each side's retry (ms), with ±20 % jitter so that devices do not retry in step. */
export function backOff(delay: number): number {
  const next = delay === 0 ? 500 : Math.min(delay * 2, 8_000);
  return Math.round(next * (0.8 + Math.random() * 0.4));
}

/**
 * Live replication in both directions, each on its own so that each side's failures are seen: live-push.ts and
 * live-pull.ts, which answer like PouchDB replications (events `active`, `paused`, `change`, `denied`). The
 * state of each side combines into one status.
 */
export class Replicator {
  #local: Db;
  #remote: Db;
  #events: ReplicatorEvents;
  #reps: Replication[] = [];
  #pull: LivePull | undefined;
  /** See adoptFirstPull. */
  #firstPull: LivePull | undefined;
  #push: LivePush | undefined;
  #state: Record<Direction, SyncStatus> = { push: 'connecting', pull: 'connecting' };
  #status: SyncStatus = 'paused';
  #running = false;
  /** The local replica is full (device-storage.ts): the status says `error` until a write succeeds again. */
  #full = false;
  /** Revisions that arrived by pull, per document (the push side asks the server about these only). */
  #pulledRevs = new Map<string, Set<string>>();
  /** The revision of each document that the push side sent last (its echo from the pull side needs no work). */
  #pushedRevs = new Map<string, string>();
  /** The push side went idle once since it started: every later local change was written or pulled since. */
  #pushCaughtUp = false;
  /** The code of each side's last reported failure (undefined once something went through). */
  #reported: Record<Direction, string | undefined> = { push: undefined, pull: undefined };
  /** The server's continuity is to be checked when something goes through again (continuity.ts). */
  #suspect = true;
  /** The continuity check under way. */
  #checking: Promise<void> | undefined;
  /** Restarts from scratch in a row (a bound, should the checkpoints not go away; 0 again once found in step). */
  #rewinds = 0;
  #every: ReturnType<typeof setInterval> | undefined;
  /** When the server's continuity was last checked (ms). */
  #checked = -Infinity;
  /** Maps a failure to its error; a full local replica reads `storage_full` (device-storage.ts). */
  #explain: (error: unknown) => FeatError;

  constructor(local: Db, remote: Db, events: ReplicatorEvents) {
    this.#local = local;
    const explain = (local as { explain?: (error: unknown) => FeatError }).explain?.bind(local);
    this.#explain = explain ?? ((error) => toStorageAwareError(error));
    this.#remote = remote;
    this.#events = events;
  }

  get status(): SyncStatus {
    return this.#status;
  }

  /** The pull side's state, while running. */
  get pullState(): SyncStatus | undefined {
    return this.#running ? this.#state.pull : undefined;
  }

  /** The server sequence the replica holds every change up to, while the pull runs caught up; else `undefined`. */
  pulledTo(): Seq | undefined {
    return this.#running && this.#state.pull === 'idle' && this.#reps.includes(this.#pull!) ? this.#pull?.seq : undefined;
  }

  /** This client stored `rev` of `id` in the replica (live-push.ts `written`). */
  written(id: string, rev: string): void {
    this.#push?.written(id, rev);
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    // A refusal of the session met before (before a pause, or by the start's first pull: `refused`) stands until
    // something goes through: trying again is not `connecting` (README: the status stays `denied`).
    const from = (d: Direction): SyncStatus => (this.#state[d] === 'denied' && this.#reported[d] !== undefined ? 'denied' : 'connecting');
    this.#state = { push: from('push'), pull: from('pull') };
    const first = this.#firstPull;
    this.#firstPull = undefined;
    // (A first pull taken over whose page is arriving: `active`.)
    if (first?.transferring) this.#state.pull = 'active';
    this.#pushCaughtUp = false;
    this.#update();
    // Both sides are our own (live-push.ts, live-pull.ts), with checkpoints in the local replica only: see
    // docs/benchmarks.md (W7).
    this.#push = new LivePush(this.#local, this.#remote, backOff, (diff) => this.#revsDiff(diff));
    this.#watch('push', this.#push);
    if (first) {
      // The first pull goes on as this pull side until it has caught up (or failed): its page under way is not read
      // again; then the live pull starts from its checkpoint.
      first.adopt(this.#pullHooks());
      this.#pull = first;
      this.#watch('pull', first);
      const next = () => {
        if (!this.#running || !this.#reps.includes(first)) return;
        this.#reps = this.#reps.filter((rep) => rep !== first);
        this.#startPull();
      };
      first.then(next, next);
    } else this.#startPull();
    this.#verify();
    clearInterval(this.#every);
    this.#every = setInterval(() => this.#status === 'idle' && this.#verify(true), CONTINUITY_EVERY_MS);
    (this.#every as { unref?: () => void }).unref?.();
  }

  #pullHooks() {
    return {
      incoming: (docs: PulledDoc[]) => {
        docs.forEach((doc) => this.#notePulled(doc));
        this.#events.arriving?.(docs);
      },
      has: (id: string, rev: string) => this.#pushedRevs.get(id) === rev,
    };
  }

  #startPull(): void {
    this.#pull = new LivePull(this.#local, this.#remote, backOff, {
      ...this.#pullHooks(),
      tooDeep: (id, rev) => this.#events.tooDeep?.(id, rev),
      crowded: (id) => this.#events.crowded?.(id) ?? Promise.resolve(),
    });
    this.#watch('pull', this.#pull);
  }

  /**
   * A new device's first pull still under way when `initialSyncTimeout` ended the wait for it (a big page arriving
   * over a slow link): the next `start()` takes it over as its pull side instead of reading that page again.
   */
  adoptFirstPull(pull: LivePull): void {
    this.#firstPull?.cancel();
    this.#firstPull = pull;
  }

  /**
   * Checks that the server still has what this replica exchanged with it (continuity.ts), beside the live sync that
   * has started; if not, starts it over from the beginning. Made when `#suspect` (start, a failure, a feed restart) and
   * something goes through, or when `due` and the last one is a quarter of CONTINUITY_EVERY_MS old.
   */
  #verify(due = false): void {
    if (this.#checking || !this.#running) return;
    if (!this.#suspect && !(due && monotonicNow() - this.#checked >= CONTINUITY_EVERY_MS / 4)) return;
    // A check that cannot be made (offline) is made again by the next failure's recovery or by the periodic one,
    // not at every event.
    this.#check().catch(() => undefined);
  }

  /**
   * The check now (or the one under way): resolves once it is made — and, the server being behind, sync started over
   * (the push tracker forgets what it verified: waitForPush waits for the writes again). Rejects when it cannot be
   * made. For waitForPush(): changes it verified before a restore are no longer on the server, and nothing else looks
   * at them again until the next periodic check.
   */
  checkServer(): Promise<void> {
    // Paused: looked at all the same; behind, the tracker forgets what it verified (the call waits, honestly) and sync
    // starts over once resumed.
    if (!this.#running) {
      return compare(this.#local, this.#remote).then((found) => {
        if (found !== 'behind') return;
        this.#suspect = true;
        this.#events.rewound();
      });
    }
    return this.#checking ?? this.#check();
  }

  #check(): Promise<void> {
    this.#suspect = false;
    this.#checked = monotonicNow();
    const check: Promise<void> = compare(this.#local, this.#remote)
      .then(async (found) => {
        // Found in step with what was pushed since (the restart from scratch worked): a later restore is started over
        // from as well. (Not at the check right after a restart: nothing pushed yet to compare.)
        if (found === 'in-step') this.#rewinds = 0;
        if (found !== 'behind' || !this.#running || this.#rewinds >= 3) return;
        this.#rewinds++;
        await this.#cancel();
        if (!this.#running) return;
        try {
          await restartFromScratch(this.#local);
          this.#events.rewound();
        } catch {
          // The checkpoints stay (a full device): sync goes on from them, and the periodic check tries again.
        }
        this.#pushCaughtUp = false;
        this.#pulledRevs.clear();
        this.#pushedRevs.clear();
        this.#running = false;
        this.#checking = undefined;
        // Checked again once something goes through: in step, the bound counts from 0 again.
        this.#suspect = true;
        this.start();
      })
      .finally(() => {
        if (this.#checking === check) this.#checking = undefined;
      });
    this.#checking = check;
    return check;
  }

  /**
   * Which revisions the server lacks, as the push side asks it: answered here once the push side has caught up (it went
   * idle once since it started): a revision that arrived by live pull is on the server; any other one was written here
   * since, and is sent. Sending a revision the server has is harmless (`new_edits: false` keeps what is there). This
   * saves the round trip before each pushed batch, and the request the push side made after every pulled batch (the
   * echo), see docs/benchmarks.md (W7). While catching up (what was written or pulled before, e.g. by the first pull)
   * the server is asked as usual.
   */
  #revsDiff(diff: Record<string, string[]>): Promise<Record<string, { missing?: string[] }>> {
    if (!this.#pushCaughtUp) return (this.#remote as ReplicaDb).revsDiff(diff);
    const answer: Record<string, { missing?: string[] }> = {};
    for (const [id, revs] of Object.entries(diff)) {
      const known = this.#pulledRevs.get(id);
      const missing = known ? revs.filter((rev) => !known.has(rev)) : revs;
      if (missing.length) answer[id] = { missing };
    }
    return Promise.resolve(answer);
  }

  /**
   * The server lacks changes the push side sent and saw answered as stored (a `_bulk_docs` answered 201 by something
   * that did not store them: a proxy, a server losing writes): the push side starts again from `seq` (the tracker's
   * verified sequence), sending them again. Only when its checkpoint is past `seq` and it is caught up (`idle`).
   * Resolves true when it started again.
   */
  async resendFrom(seq: number): Promise<boolean> {
    const sent = this.#push?.seq;
    if (!this.#running || this.#checking || this.#status !== 'idle' || typeof sent !== 'number' || sent <= seq) return false;
    await this.#cancel();
    if (!this.#running) return false;
    const { rev } = await readSeq(this.#local, PUSH_CHECKPOINT);
    await this.#local.put({ _id: PUSH_CHECKPOINT, ...(rev ? { _rev: rev } : {}), seq } as never).catch(() => undefined);
    this.#running = false;
    this.start();
    return true;
  }

  /** The start's first pull met this refusal of the session (before start()): the status starts `denied`, said once. */
  refused(failure: FeatError): void {
    if (this.#running || statusForError(failure) !== 'denied') return;
    this.#state = { push: 'denied', pull: 'denied' };
    this.#reported = { push: failure.code, pull: failure.code };
  }

  /**
   * Stops both directions; `status` becomes `paused` (or `as`: `error` when the replica is gone). Resolves when both
   * have finished their current batch.
   */
  stop(as: 'paused' | 'error' = 'paused'): Promise<void> {
    this.#running = false;
    clearInterval(this.#every);
    const stopped = this.#cancel();
    this.#set(as);
    return stopped;
  }

  #cancel(): Promise<void> {
    const reps = this.#reps;
    this.#reps = [];
    for (const rep of reps) rep.cancel();
    // A cancelled replication settles once its in-flight reads and writes are done; closing the database before
    // that makes PouchDB's adapters fail in callbacks nobody can catch.
    const done = reps.map((rep) => Promise.resolve(rep).then(() => undefined, () => undefined));
    return within(Promise.all(done), 5_000).then(() => undefined);
  }

  setStorageFull(full: boolean): void {
    this.#full = full;
    if (this.#running) this.#update();
  }

  /** Restarts at once (e.g. the browser came back online). */
  kick(): void {
    if (!this.#running) return;
    if (this.#status === 'offline' || this.#status === 'error') {
      void this.#cancel();
      this.#running = false;
      this.start();
    }
  }

  #watch(direction: Direction, rep: Replication): void {
    this.#reps.push(rep);
    const mine = () => this.#reps.includes(rep);
    rep.on('active', () => {
      if (!mine()) return;
      // A retry after a failure transfers nothing yet (a stalled server answers nothing): the side stays `offline` (or
      // `error`, `denied`) until something goes through (`change`) or it catches up (`paused`), so the status does not
      // flip to `active` on every retry.
      if (this.#failed(direction)) return;
      this.#state[direction] = 'active';
      this.#update();
    });
    rep.on('paused', (error: unknown) => {
      if (!mine()) return;
      if (error) {
        this.#suspect = true;
        const failure = this.#explain(error);
        // Ended by close() (a token refresh it cut short): the app's own doing, not a failure to report.
        if (failure.code === 'closed') return;
        if (failure.code === 'aborted') {
          // A request the side cancelled itself (not the server's doing): it retries by itself, nothing to report.
          this.#state[direction] = 'connecting';
          return this.#update();
        }
        const next = statusForError(failure);
        // Once per episode: a side that keeps failing the same way (offline, a full device, refused credentials: on
        // either side, whether CouchDB or the accounts service said so) says so once.
        // (A refusal with another code — `forbidden` after `unauthorized`: signed in as another account — is new.)
        const seen = (d: Direction) => this.#state[d] === next && (next === 'offline' || this.#reported[d] === failure.code);
        const again = seen(direction) || (next === 'denied' && seen(direction === 'push' ? 'pull' : 'push'));
        // A full device is reported by the replica's guard, once per episode (device-storage.ts).
        const guardSaidSo = (failure.code === 'storage_full' && (this.#local as { full?: boolean }).full === true) || failure.code === 'storage_lost';
        if (!again && !guardSaidSo) this.#events.error(failure);
        this.#reported[direction] = failure.code;
        this.#state[direction] = next;
      } else {
        this.#reported[direction] = undefined;
        this.#verify();
        // Documents the server still refuses keep the side `denied` (live-push.ts sends them again).
        this.#state[direction] = (rep as { refused?: SyncStatus | undefined }).refused ?? 'idle';
        if (direction === 'push') {
          this.#pushCaughtUp = true;
          this.#events.pushed();
        }
      }
      this.#update();
    });
    rep.on('change', (info: { docs?: { _id: string; _rev: string }[] }) => {
      if (!mine()) return;
      // While sync is busy, checked now and then too (a restore from a backup may break no connection).
      this.#verify(true);
      // Something went through: the side is active again — unless documents are still refused (it stays `denied`).
      const refused = (rep as { refused?: SyncStatus | undefined }).refused;
      if (this.#failed(direction) && this.#state[direction] !== refused) {
        this.#state[direction] = refused ?? 'active';
        this.#reported[direction] = undefined;
        this.#update();
      }
      if (direction === 'pull' && info.docs?.length) {
        this.#events.pulled(info.docs);
      }
      if (direction === 'push') {
        for (const doc of info.docs ?? []) remember(this.#pushedRevs, doc._id, doc._rev, PULLED_KEPT);
        this.#events.pushed();
      }
    });
    // The live feed ended and starts again (a restart of the server ends it without an error): check once through.
    rep.on('restarted', () => {
      if (mine()) this.#suspect = true;
    });
    rep.on('given-up', (change: { id: string; rev: string }) => {
      if (mine()) this.#events.givenUp(change.id, change.rev);
    });
    rep.on('too-large', (id: string) => {
      if (mine()) this.#events.tooLarge?.(id);
    });
    rep.on('denied', (error: unknown) => {
      if (!mine()) return;
      const id = (error as { id?: unknown })?.id;
      const raw = (error as { doc?: unknown })?.doc ?? error;
      // A document's refusal by the server names its key.
      const failure = typeof id === 'string' ? toFeatError(raw, { key: id }) : this.#explain(raw);
      this.#events.error(failure);
      this.#state[direction] = statusForError(failure);
      this.#update();
    });
  }

  /**
   * Remembers a pulled revision, and the ones before it that the pull named (`_revisions`): a few per leaf, added to
   * what the document's other leaves brought (a resolution's kept value and its deletions come in one batch: forgetting
   * the first would send it back — and one bigger than this device's `maxRequestBytes` would be refused here).
   */
  #notePulled(doc: { _id: string; _rev: string; _revisions?: { start: number; ids: string[] } }): void {
    const revs = new Set<string>(this.#pulledRevs.get(doc._id));
    revs.add(doc._rev);
    const history = doc._revisions;
    if (history) for (let i = 0; i < Math.min(history.ids.length, 4); i++) revs.add(`${history.start - i}-${history.ids[i]}`);
    // Bounded, per document and in all: a revision forgotten (the oldest first) is only sent once more.
    for (const rev of revs) {
      if (revs.size <= PULLED_PER_DOC) break;
      revs.delete(rev);
    }
    remember(this.#pulledRevs, doc._id, revs, PULLED_KEPT);
  }

  /** The side's last attempt failed or was refused (and nothing went through since). */
  #failed(direction: Direction): boolean {
    return ['offline', 'error', 'denied'].includes(this.#state[direction]);
  }

  #update(): void {
    const states = [this.#state.push, this.#state.pull, this.#full ? 'error' : 'idle'];
    const order: SyncStatus[] = ['denied', 'offline', 'error', 'connecting', 'active'];
    const next = order.find((s) => states.includes(s)) ?? 'idle';
    this.#set(next);
  }

  #set(status: SyncStatus): void {
    if (status === this.#status) return;
    this.#status = status;
    this.#events.status(status);
  }
}
