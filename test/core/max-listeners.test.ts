/**
 * Many concurrent calls without a signal of the app's: the SDK's own long-lived signal (the client's lifetime, which
 * every waitForPush() and client.api call listens to) must not make Node warn MaxListenersExceeded (it did past 10).
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClientOptions } from '@feat/sdk';
import { uniqueUser, useEmulator } from '../support/backend.js';

const emu = useEmulator();
const options = (user: string, mode: 'remote' | 'local-first'): FeatClientOptions => ({
  couchUrl: emu.couchUrl,
  accountsUrl: emu.accountsUrl,
  apiUrl: emu.apiUrl,
  auth: emu.bearerFor(user),
  mode,
  local: { adapter: 'memory' },
});

const loads: Record<string, (c: ReturnType<typeof createFeatClient>) => Promise<unknown>[]> = {
  waitForPush20: (c) => Array.from({ length: 20 }, () => c.sync.waitForPush()),
  get50: (c) => Array.from({ length: 50 }, (_, i) => c.store.get(`k${i}`)),
  set50: (c) => Array.from({ length: 50 }, (_, i) => c.store.set(`k${i}`, i)),
  find20: (c) => Array.from({ length: 20 }, () => c.store.find({ prefix: 'k' })),
  watch20: (c) => {
    const offs = Array.from({ length: 20 }, (_, i) => c.store.watch(`w${i}`, () => {}));
    return [new Promise((r) => setTimeout(r, 500)).then(() => offs.forEach((o) => o()))];
  },
  watchQuery20: (c) => {
    const offs = Array.from({ length: 20 }, () => c.store.watchQuery({ prefix: 'k' }, () => {}));
    return [new Promise((r) => setTimeout(r, 800)).then(() => offs.forEach((o) => o()))];
  },
  // A screen of components remounting: 12 watches made and dropped 60 times, a write every 10 (the replica's changes
  // feeds each add a 'destroyed' listener while they run: "11 destroyed listeners added to [klass]", 2 of 3 runs).
  watchChurn60: (c) => [
    (async () => {
      for (let i = 0; i < 60; i++) {
        const offs = [0, 1, 2].flatMap((j) => [
          c.store.watch(`w${j}`, () => {}),
          c.store.watch({ prefix: `w${j}` }, () => {}),
          c.store.watch(`wp${j}`, () => {}, { initial: true }),
          c.store.watch({ prefix: `wp${j}` }, () => {}, { initial: true }),
        ]);
        if (i % 10 === 0) await c.store.set(`w${i % 3}`, i);
        await new Promise((r) => setTimeout(r, i % 10 === 0 ? 30 : 0));
        offs.forEach((off) => off());
      }
      await new Promise((r) => setTimeout(r, 300));
    })(),
  ],
  api20: (c) => Array.from({ length: 20 }, () => c.api!.activity.commentCount({ target_type: 400 })),
  exportData12: (c) => Array.from({ length: 12 }, () => c.exportData()),
};

describe.each(['remote', 'local-first'] as const)('%s', (mode) => {
  it.each(Object.keys(loads))('%s concurrently: no MaxListenersExceededWarning', async (name) => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    const c = createFeatClient(options(uniqueUser('ml'), mode));
    try {
      await c.ready();
      await Promise.allSettled(loads[name]!(c));
      if (name.startsWith('waitForPush')) {
        c.sync.pause();
        await c.store.set('x', 1);
        const waits = Array.from({ length: 20 }, () => c.sync.waitForPush().catch(() => {}));
        await new Promise((r) => setTimeout(r, 200));
        await c.close();
        await Promise.all(waits);
      }
      await new Promise((r) => setTimeout(r, 100));
      expect(warnings).toEqual([]);
    } finally {
      process.off('warning', onWarning);
      await c.close();
    }
  }, 60_000);
});
