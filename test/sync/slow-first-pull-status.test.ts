/**
 * A new device's first pull of a big value over a slow link (a mobile network): the value takes many seconds to
 * arrive. The status said `connecting` ("starting or reconnecting") the whole time while the bytes flowed steadily;
 * README: `active` is "transferring changes". Now a page whose answer has begun and whose body is still arriving
 * reads as `active`, in the first pull and in live sync's catch-up.
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClient, type SyncStatus } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator } from '../support/backend.js';
import { startSlowLink } from '../support/slow-link.js';

const emu = useEmulator();

const noise = (n: number) => Array.from({ length: Math.ceil(n / 8) }, () => Math.random().toString(36).slice(2, 10)).join('').slice(0, n);

describe('status during a slow first pull', () => {
  it('reads `active` while a big value arrives, then `idle` once it is readable', async () => {
    const user = uniqueUser('slowpull');
    const writer: FeatClient = emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote' }));
    const value = { body: noise(500_000) };
    await writer.store.set('big', value);
    const link = await startSlowLink({ up: 60_000, down: 60_000, rttMs: 300 });
    try {
      const device: FeatClient = emu.track(
        createFeatClient({
          couchUrl: await link.through(emu.couchUrl),
          accountsUrl: emu.accountsUrl,
          auth: emu.bearerFor(user),
          local: { adapter: 'memory' },
          initialSyncTimeout: 60_000,
          maintenance: { enabled: false },
        }),
      );
      const samples: { status: SyncStatus; bytes: number }[] = [];
      const ready = device.ready();
      let settled = false;
      void ready.finally(() => (settled = true));
      while (!settled) {
        samples.push({ status: device.sync.status, bytes: link.bytesDown });
        await sleep(250);
      }
      await ready;
      expect(await device.store.get('big')).toEqual(value);
      // Seconds of transfer: once a good part of it had come (the link counts in steps of 64 kB), the status said so.
      const transferring = samples.filter((s) => s.bytes > 200_000);
      expect(transferring.length).toBeGreaterThan(4);
      expect(transferring.filter((s) => s.status === 'connecting').map((s) => s.bytes)).toEqual([]);
      expect(transferring.some((s) => s.status === 'active')).toBe(true);
      await device.sync.waitForPush({ timeout: 10_000 });
    } finally {
      await link.close();
    }
  }, 120_000);
});
