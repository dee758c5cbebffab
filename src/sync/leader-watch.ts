/**
 * A follower tab's view of its leader (several tabs, leader.ts). A follower reports the leader's sync status — but a
 * leader whose JavaScript is busy (a long task, a paused debugger, a frozen page) pushes nothing and says nothing, and
 * its last `idle` would then be a lie in the tab whose writes wait. While this tab has writes not yet on the server,
 * it asks the leader to speak (the `hello` a new tab sends, which the leader answers with its status) once a second;
 * a leader unheard for SILENT_MS while they wait is reported as `connecting` until it answers again. It counts only
 * while writes wait: from its start or this tab's next write (`poke`) until the count is 0.
 */
import type { SyncStatus } from './status.js';
import { monotonicNow } from '../util/clock.js';

/** How long a follower's writes may wait on a leader that says nothing before the follower stops reporting its status. */
export const SILENT_MS = 5_000;
const CHECK_MS = 1_000;

export class LeaderWatch {
  #heardAt = monotonicNow();
  #pendingSince: number | undefined;
  #silent = false;
  #checking = false;
  /** When this tab last wrote: a count read before that may have missed the write. */
  #pokedAt = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #count: () => Promise<number>;
  #ask: () => void;
  #changed: () => void;

  /** `count`: this tab's writes not on the server; `ask`: asks the leader for its status; `changed`: `silent` changed. */
  constructor(count: () => Promise<number>, ask: () => void, changed: () => void) {
    this.#count = count;
    this.#ask = ask;
    this.#changed = changed;
    this.poke();
  }

  /** This tab wrote: counts (again) until nothing waits. */
  poke(): void {
    this.#pokedAt = monotonicNow();
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.#check(), CHECK_MS);
    (this.#timer as { unref?: () => void }).unref?.();
  }

  /** The leader said something (a status, writes confirmed). */
  heard(): void {
    this.#heardAt = monotonicNow();
    this.#set(false);
  }

  /** The status to report for the leader's `status`. */
  statusFor(status: SyncStatus): SyncStatus {
    return this.#silent && (status === 'idle' || status === 'active') ? 'connecting' : status;
  }

  async #check(): Promise<void> {
    if (this.#checking) return;
    this.#checking = true;
    try {
      const asked = monotonicNow();
      const waiting = (await this.#count().catch(() => 0)) > 0;
      const now = monotonicNow();
      if (!waiting) {
        this.#pendingSince = undefined;
        if (this.#pokedAt < asked) this.close();
        return this.#set(false);
      }
      this.#pendingSince ??= now;
      this.#ask();
      if (now - this.#pendingSince >= SILENT_MS && now - this.#heardAt >= SILENT_MS) this.#set(true);
    } finally {
      this.#checking = false;
    }
  }

  #set(silent: boolean): void {
    if (this.#silent === silent) return;
    this.#silent = silent;
    this.#changed();
  }

  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
