/**
 * Several tabs, one sync (README "Several tabs"). The clients of one replica (same origin, same replica name) elect a
 * leader with the Web Locks API: the tab holding the lock `feat-leader:<replica>` runs replication and maintenance for
 * as long as it lives (the browser releases the lock when the tab closes or crashes, and the next waiting tab gets it).
 * The others read and write the shared replica directly and hear the leader on a BroadcastChannel: its sync status,
 * and when more writes are confirmed on the server. Every tab also holds `feat-tab:<replica>` in shared mode while its
 * client is open, so `logout({ destroyLocal: true })` can ask the others to close and know when they have.
 *
 * Without Web Locks or BroadcastChannel (Node, old browsers) there is no election: every client syncs on its own.
 */
import type { SyncStatus } from './status.js';

interface LockManagerLike {
  request(
    name: string,
    options: { mode?: 'exclusive' | 'shared'; ifAvailable?: boolean; signal?: AbortSignal },
    callback: (lock: unknown) => unknown,
  ): Promise<unknown>;
}

type TabMessage = { type: 'status'; status: SyncStatus } | { type: 'hello' } | { type: 'pushed' } | { type: 'pulled'; docs: unknown } | { type: 'close' };

/** The Web Locks API, where BroadcastChannel exists too. */
export function webLocks(): LockManagerLike | undefined {
  const locks = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator?.locks;
  return locks && typeof BroadcastChannel === 'function' ? locks : undefined;
}

const channelName = (replica: string) => `feat-tabs:${replica}`;
export const tabLock = (replica: string) => `feat-tab:${replica}`;
const leaderLock = (replica: string) => `feat-leader:${replica}`;

/** What a tab hears from the others. */
export interface TabEvents {
  /** This tab became the leader (after the previous one closed or crashed). */
  lead(): void;
  /** Followers: the leader's sync status. */
  status(status: SyncStatus): void;
  /** Followers: the leader confirmed more writes on the server. */
  pushed(): void;
  /** Followers: revisions the leader's pull is writing to the replica (`[id, rev]`): none of them is a write to push. */
  pulled?(docs: [string, string][]): void;
  /** Another tab deletes the replica (`logout({ destroyLocal: true })`): close now. */
  close(): void;
  /** Leader: its status now (for a tab that just joined). */
  current(): SyncStatus;
}

/** This tab's membership of its replica's tabs. */
export class Tabs {
  #channel: BroadcastChannel;
  #events: TabEvents;
  #stop = new AbortController();
  /** Releases the leader lock (held by a pending promise). */
  #releaseLeader: (() => void) | undefined;
  #releaseTab: (() => void) | undefined;
  #leading = false;

  private constructor(replica: string, events: TabEvents) {
    this.#events = events;
    this.#channel = new BroadcastChannel(channelName(replica));
    this.#channel.onmessage = (event: MessageEvent<TabMessage>) => this.#receive(event.data);
  }

  /**
   * Joins the tabs of `replica`: resolves once it is known whether this tab leads now. Undefined without Web Locks
   * (every client syncs on its own).
   */
  static async join(replica: string, events: TabEvents): Promise<Tabs | undefined> {
    const locks = webLocks();
    if (!locks) return undefined;
    const tabs = new Tabs(replica, events);
    const signal = tabs.#stop.signal;
    locks
      .request(tabLock(replica), { mode: 'shared', signal }, () => new Promise<void>((resolve) => (tabs.#releaseTab = resolve)))
      .catch(() => undefined);
    const hold = () => new Promise<void>((resolve) => (tabs.#releaseLeader = resolve));
    const leading = await new Promise<boolean>((resolve) => {
      locks
        .request(leaderLock(replica), { ifAvailable: true }, (lock) => {
          resolve(lock !== null);
          return lock === null ? undefined : hold();
        })
        .catch(() => resolve(false));
    });
    if (leading) tabs.#leading = true;
    else {
      // Waits for the leader to go; the browser hands the lock over when its tab closes or crashes.
      locks
        .request(leaderLock(replica), { signal }, () => {
          if (signal.aborted) return undefined;
          tabs.#leading = true;
          events.lead();
          return hold();
        })
        .catch(() => undefined);
      tabs.#post({ type: 'hello' });
    }
    return tabs;
  }

  /** True while this tab runs the replication. */
  get leading(): boolean {
    return this.#leading;
  }

  /** Leader: tells the followers its status. */
  status(status: SyncStatus): void {
    if (this.#leading) this.#post({ type: 'status', status });
  }

  /** Followers: asks the leader for its status (it answers unless its JavaScript is busy: leader-watch.ts). */
  ask(): void {
    if (!this.#leading) this.#post({ type: 'hello' });
  }

  /** Leader: tells the followers that more writes are confirmed on the server. */
  pushed(): void {
    if (this.#leading) this.#post({ type: 'pushed' });
  }

  /** Leader: tells the followers which revisions its pull is writing (before they are in the replica). */
  pulled(docs: [string, string][]): void {
    if (this.#leading && docs.length) this.#post({ type: 'pulled', docs });
  }

  #post(message: TabMessage): void {
    try {
      this.#channel.postMessage(message);
    } catch {
      // closed meanwhile
    }
  }

  #receive(message: TabMessage): void {
    if (this.#stop.signal.aborted || typeof message !== 'object' || message === null) return;
    if (message.type === 'close') return this.#events.close();
    if (this.#leading) {
      if (message.type === 'hello') this.status(this.#events.current());
      return;
    }
    if (message.type === 'status') this.#events.status(message.status);
    else if (message.type === 'pushed') this.#events.pushed();
    else if (message.type === 'pulled' && Array.isArray(message.docs)) {
      const docs = (message.docs as unknown[]).filter((d): d is [string, string] => Array.isArray(d) && typeof d[0] === 'string' && typeof d[1] === 'string');
      this.#events.pulled?.(docs);
    }
  }

  /** Leaves: releases the locks (the next tab takes over) and closes the channel. */
  close(): void {
    this.#stop.abort();
    this.#leading = false;
    this.#releaseLeader?.();
    this.#releaseTab?.();
    this.#channel.close();
  }
}

/** How long `logout({ destroyLocal: true })` waits for the other tabs to close their clients. */
export const CLOSE_TABS_TIMEOUT_MS = 10_000;

/**
 * Asks every other tab of `replica` to close its client and waits (up to `timeoutMs`) until they all have (each
 * releases its shared `feat-tab:` lock once its replica is closed). Resolves true when they did, or when there is no
 * Web Locks API; false on timeout.
 */
export async function closeOtherTabs(replica: string, timeoutMs = CLOSE_TABS_TIMEOUT_MS): Promise<boolean> {
  const locks = webLocks();
  if (!locks) return true;
  const channel = new BroadcastChannel(channelName(replica));
  try {
    channel.postMessage({ type: 'close' } satisfies TabMessage);
    return await locks.request(tabLock(replica), { signal: AbortSignal.timeout(timeoutMs) }, () => true).then(
      () => true,
      () => false,
    );
  } finally {
    channel.close();
  }
}
