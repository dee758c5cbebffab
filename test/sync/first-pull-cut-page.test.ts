/**
 * A new device's first pull cut short by `initialSyncTimeout` while a big page was still arriving over a slow link:
 * `ready()` resolved on time, but the page under way was dropped and live sync read it again from the start — the
 * slow link paid for it twice, and the status said `connecting` in between. The first pull now goes on past `ready()`
 * as live sync's pull (its push starts at once), so the page is read once and the status stays `active`.
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClient, type FeatClientOptions, type SyncStatus } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator } from '../support/backend.js';
import { startSlowLink, type SlowLink } from '../support/slow-link.js';

const emu = useEmulator();

const noise = (n: number) => Array.from({ length: Math.ceil(n / 8) }, () => Math.random().toString(36).slice(2, 10)).join('').slice(0, n);

/** A big value another device stored, and a new device (memory replica) reaching the server over `link`. */
async function bigValueAndNewDevice(what: string, bytes: number, link: SlowLink, options: Partial<FeatClientOptions>) {
  const user = uniqueUser(what);
  const writer: FeatClient = emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote' }));
  const value = { body: noise(bytes) };
  await writer.store.set('big', value);
  const device: FeatClient = emu.track(
    createFeatClient({
      couchUrl: await link.through(emu.couchUrl),
      accountsUrl: emu.accountsUrl,
      auth: emu.bearerFor(user),
      local: { adapter: 'memory' },
      maintenance: { enabled: false },
      ...options,
    }),
  );
  return { writer, value, device };
}

describe('a first pull cut short while a big page arrives', () => {
  it('is read once: ready() on time, the value arrives without a second download, the status never `connecting` meanwhile', async () => {
    const link = await startSlowLink({ up: 60_000, down: 60_000, rttMs: 200 });
    try {
      const { writer, value, device } = await bigValueAndNewDevice('cutpage', 600_000, link, { initialSyncTimeout: 5_000 });
      const statuses: SyncStatus[] = [];
      const off = device.sync.on('status', (s) => statuses.push(s));
      const started = Date.now();
      await device.ready();
      // ready() kept its bound: the value (10 s on this link) had not come yet.
      expect(Date.now() - started).toBeLessThan(9_000);
      expect(await device.store.get('big')).toBeUndefined();
      const afterReady = statuses.length;
      const bytesAtReady = link.bytesDown;
      expect(bytesAtReady).toBeGreaterThan(100_000);
      // Our own write right after ready() is pushed while the first pull's page still arrives.
      await device.store.set('mine', { n: 1 });
      let got: unknown;
      for (const end = Date.now() + 40_000; Date.now() < end; await sleep(250)) {
        got = await device.store.get('big');
        if (got !== undefined) break;
      }
      expect(got).toEqual(value);
      // Read once: what came down is the value (and its chunks' JSON) once, not a second time from the start.
      expect(link.bytesDown).toBeLessThan(value.body.length * 1.3);
      expect(statuses.slice(afterReady)).not.toContain('connecting');
      await device.sync.waitForPush({ timeout: 15_000 });
      expect(await writer.store.get('mine')).toEqual({ n: 1 });
      // Then live sync's own pull follows the server.
      await writer.store.set('later', { n: 2 });
      await expect.poll(() => device.store.get('later'), { timeout: 15_000, interval: 200 }).toEqual({ n: 2 });
      off();
    } finally {
      await link.close();
    }
  }, 120_000);

  for (const how of ['close', 'pause'] as const) {
    it(`${how}() while the page still arrives: ${how === 'close' ? 'ends within its bound, nothing reported' : 'stops it; resume() brings the value'}`, async () => {
      const link = await startSlowLink({ up: 40_000, down: 40_000, rttMs: 200 });
      try {
        const { value, device } = await bigValueAndNewDevice(`cutpage-${how}`, 400_000, link, { initialSyncTimeout: 3_000, requestTimeout: 5_000 });
        const errors: unknown[] = [];
        device.sync.on('error', (e) => errors.push(e));
        await device.ready();
        expect(await device.store.get('big')).toBeUndefined();
        if (how === 'close') {
          const started = Date.now();
          await device.close();
          expect(Date.now() - started).toBeLessThan(2 * 5_000 + 1_000);
          expect(device.sync.status).toBe('paused');
        } else {
          device.sync.pause();
          expect(device.sync.status).toBe('paused');
          // Stopped: what the link still held drains, then nothing more comes down while paused.
          await sleep(3_000);
          const bytes = link.bytesDown;
          await sleep(2_000);
          expect(link.bytesDown - bytes).toBeLessThan(5_000);
          expect(await device.store.get('big')).toBeUndefined();
          device.sync.resume();
          await expect.poll(() => device.store.get('big'), { timeout: 40_000, interval: 250 }).toEqual(value);
        }
        expect(errors).toEqual([]);
      } finally {
        await link.close();
      }
    }, 120_000);
  }
});
