/**
 * What a new device's status says while its first pull is retried (it said `connecting` throughout) (README "Sync" status table: `offline` when
 * the server cannot be reached, `error` when it fails for another reason, details in the `error` event), and that
 * nothing is sent after close() during those retries.
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClientOptions } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { useFaultProxy } from '../support/fault-proxy.js';

const emu = useEmulator({ peruserDelayMs: 0 });
const proxy = useFaultProxy(() => emu.couchUrl);
const CHANGES = { path: /\/_changes$/ };

function make(user: string, extra: Partial<FeatClientOptions> = {}) {
  return emu.track(
    createFeatClient({
      couchUrl: proxy.url,
      accountsUrl: emu.accountsUrl,
      auth: emu.bearerFor(user),
      local: { adapter: 'memory' },
      requestTimeout: 2_000,
      ...extra,
    } as FeatClientOptions),
  );
}
async function seed(user: string): Promise<void> {
  const laptop = make(user, { mode: 'remote' });
  await laptop.store.set('settings', { theme: 'dark' });
  await laptop.close();
}

describe('status while a new device retries its first pull', () => {
  const cases = [
    { name: 'CouchDB answers 503', status: 'error', fault: () => proxy.fault(CHANGES, 'answer', { status: 503, body: { error: 'service_unavailable', reason: 'busy' } }) },
    { name: 'every connection is reset', status: 'offline', fault: () => proxy.fault(CHANGES, 'reset') },
  ];
  for (const c of cases)
    it(`${c.name} for seconds during the first pull: status says ${c.status}, not connecting`, async () => {
      const user = uniqueUser('nds');
      await seed(user);
      const base = proxy.counts.answer + proxy.counts.reset;
      c.fault();
      const phone = make(user, { initialSyncTimeout: 8_000 });
      const statuses: string[] = [];
      phone.sync.on('status', (s) => statuses.push(s));
      const ready = phone.ready();
      try {
        await waitFor(() => proxy.counts.answer + proxy.counts.reset >= base + 3, 10_000, 'the pull to fail a few times');
        await sleep(500);
        const during = phone.sync.status;
        expect({ during, statuses }).toMatchObject({ during: c.status });
      } finally {
        proxy.clear();
        await ready.catch(() => undefined);
        await phone.close();
      }
    }, 30_000);

  it('close() during the pull retries: ready() settles at once and nothing more reaches the server', async () => {
    const user = uniqueUser('nds');
    await seed(user);
    proxy.fault(CHANGES, 'answer', { status: 503, body: { error: 'service_unavailable', reason: 'busy' } });
    try {
      const phone = make(user, { initialSyncTimeout: 60_000 });
      const ready = phone.ready().then(() => 'resolved', (e: { code?: string }) => e.code);
      const base = proxy.counts.answer;
      await waitFor(() => proxy.counts.answer >= base + 2, 10_000, 'two failed pulls');
      const t0 = Date.now();
      await phone.close();
      const closeMs = Date.now() - t0;
      const outcome = await ready;
      const from = proxy.log.length;
      await sleep(3_000);
      expect({ closeMs: closeMs < 3_000, outcome, after: proxy.log.slice(from) }).toEqual({ closeMs: true, outcome: 'closed', after: [] });
    } finally {
      proxy.clear();
    }
  }, 30_000);
});
