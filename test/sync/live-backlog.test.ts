/**
 * The live pull's stream hands on lines as fast as the server sends them, faster than a replica may write them: past
 * 1,000 changes waiting, the stream is closed and the backlog read again in pages (the catch-up), then followed again.
 * Memory stays bounded; every document arrives; no error is reported.
 */
import PouchDB from 'pouchdb-core';
import MemoryAdapter from 'pouchdb-adapter-memory';
import { expect, it } from 'vitest';
import type { Change, Db } from '../../src/store/db.js';
import { LivePull } from '../../src/sync/live-pull.js';
import { backOff } from '../../src/sync/replicator.js';

if (!(PouchDB as unknown as { adapters: Record<string, unknown> }).adapters.memory) PouchDB.plugin(MemoryAdapter);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

it('3,000 changes streamed at once: the stream is closed past 1,000 waiting, the rest read in pages; all arrive', async () => {
  const local = new PouchDB(`live-backlog-${Date.now()}`, { adapter: 'memory' }) as unknown as Db & PouchDB.Database;
  const server: Change[] = Array.from({ length: 3_000 }, (_, i) => ({
    seq: i + 1,
    id: `d${String(i).padStart(4, '0')}`,
    changes: [{ rev: '1-aaaa' }],
    doc: { _id: `d${String(i).padStart(4, '0')}`, _rev: '1-aaaa', doc: i } as never,
  }));
  let published = 0; // what the server has so far
  const requests: string[] = [];
  let maxQueued = 0;
  const feed = (answer: Promise<unknown>, onCancel = () => undefined) =>
    Object.assign(answer, { on: function on(this: unknown) { return this; }, cancel: onCancel });
  const remote = {
    changes(o: { since: number; live?: boolean; limit?: number }) {
      if (!o.live) {
        requests.push('page');
        const page = server.slice(o.since, Math.min(published, o.since + (o.limit ?? 100)));
        return feed(Promise.resolve({ results: page, last_seq: page.at(-1)?.seq ?? o.since }));
      }
      requests.push('stream');
      const listeners: ((c: Change) => void)[] = [];
      let cancelled = false;
      let settle!: (v: unknown) => void;
      const stream = Object.assign(new Promise((resolve) => (settle = resolve)), {
        on(event: string, listener: (c: Change) => void) {
          if (event === 'change') listeners.push(listener);
          if (event === 'complete') stream.then(() => (listener as () => void)());
          return stream;
        },
        cancel() {
          cancelled = true;
          settle({ status: 'cancelled' });
        },
      });
      // The first stream gets the whole burst in one go (one network chunk); later ones only what is new.
      const from = o.since;
      setTimeout(() => {
        if (published === 0) published = server.length;
        for (const change of server.slice(from, published)) {
          if (cancelled) return;
          for (const l of listeners) l(change);
          maxQueued = Math.max(maxQueued, (pull as unknown as { queue: Change[] }).queue.length);
        }
      }, 20);
      return stream;
    },
  } as unknown as Db;
  const pull: LivePull = new LivePull(local, remote, backOff, {});
  const errors: unknown[] = [];
  pull.on('paused', (e: unknown) => e && errors.push(e));
  const deadline = Date.now() + 20_000;
  while (((await local.info()).doc_count as number) < 3_000 && Date.now() < deadline) await sleep(50);
  expect((await local.info()).doc_count).toBe(3_000);
  expect(maxQueued).toBeLessThanOrEqual(1_001);
  expect(requests.filter((r) => r === 'stream').length).toBeGreaterThanOrEqual(2);
  expect(requests).toContain('page');
  expect(errors).toEqual([]);
  pull.cancel();
  await pull;
  await local.destroy();
});
