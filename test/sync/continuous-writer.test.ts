/**
 * `waitForPush()` while the app keeps writing one key: it resolves only once the server has what was written before
 * the call — not because the replica's changes feed left out a document being written while it was read (leveldb and
 * memory adapters read the sequence index from a snapshot, the documents live), nor because a later write carried the
 * verified sequence past the call's own revision.
 */
import { describe, expect, it } from 'vitest';
import { sleep, uniqueUser, useEmulator } from '../support/backend.js';
import { useFaultProxy } from '../support/fault-proxy.js';
import { device, raw } from '../support/devices.js';

const emu = useEmulator();
const proxy = useFaultProxy(() => emu.couchUrl);

/** Writes `k` = `w<n>` with `every` ms between writes until stopped; `n()` is the number of the last write asked. */
function writer(a: { store: { set(key: string, value: string): Promise<void> } }, every: number, first = 0) {
  let stop = false;
  let n = first;
  const done = (async () => {
    while (!stop) {
      await a.store.set('k', `w${n++}`);
      await sleep(every);
    }
  })();
  return {
    last: () => n - 1,
    stop: async () => {
      stop = true;
      await done;
    },
  };
}

describe('waitForPush with a continuous writer', () => {
  it('leveldb, a write every 1 ms, every push failing: no call resolves', async () => {
    const user = uniqueUser('cw');
    const a = device(emu, user, { name: 'A', couchUrl: proxy.url, adapter: 'leveldb' });
    await a.store.set('k', 'v0');
    await a.sync.waitForPush({ timeout: 20_000 });
    proxy.fault({ method: 'POST', path: /\/_bulk_docs$/ }, 'answer', { status: 500 });
    const w = writer(a, 1);
    const early: string[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await a.sync.waitForPush({ timeout: 600 }).then(
        () => 'resolved',
        (e: { code?: string }) => e.code,
      );
      if (r !== 'timeout') early.push(`call ${i}: ${r}`);
    }
    await w.stop();
    const leaves = await (await raw(emu, user)).leaves('k');
    proxy.clear();
    expect({ early, server: leaves.map((l) => l.doc) }).toEqual({ early: [], server: ['v0'] });
  }, 60_000);

  for (const adapter of ['memory', 'leveldb'] as const)
    it(`${adapter}, a write every 2 ms, pushes working: each call resolves once the server has the value written before it`, async () => {
      const user = uniqueUser('cw');
      const a = device(emu, user, { name: 'A', adapter });
      await a.store.set('k', 'w0');
      await a.sync.waitForPush({ timeout: 20_000 });
      const w = writer(a, 2, 1);
      const server = await raw(emu, user);
      const behind: string[] = [];
      for (let i = 0; i < 10; i++) {
        await sleep(30);
        const atCall = w.last();
        await a.sync.waitForPush({ timeout: 15_000 });
        const leaves = await server.leaves('k');
        const onServer = Math.max(...leaves.map((l) => Number(String(l.doc).slice(1))));
        if (onServer < atCall) behind.push(`call ${i}: the server has w${onServer}, w${atCall} was written before`);
      }
      await w.stop();
      expect(behind).toEqual([]);
    }, 120_000);
});
