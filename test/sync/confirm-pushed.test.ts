/**
 * `pending()` comes down by itself: the server is asked what it has of the pushed changes (`_revs_diff`) soon after
 * the push side goes idle, and while writes keep coming at most about once a second — not once per pushed batch (a
 * request each 100 ms per device kept a loaded server busier, W7 in docs/benchmarks.md).
 */
import { expect, it } from 'vitest';
import { createFeatClient } from '@feat/sdk';
import { uniqueUser, useEmulator, waitFor } from '../support/backend.js';

const emu = useEmulator({ profile: 'couchdb' });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

it('a write every 20 ms for 2 s: a handful of _revs_diff, not one per batch; pending() reaches 0 soon after', async () => {
  const revsDiffs: number[] = [];
  const bulkDocs: number[] = [];
  const fetchFn: typeof fetch = (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (/\/_revs_diff(\?|$)/.test(url)) revsDiffs.push(Date.now());
    if (/\/_bulk_docs(\?|$)/.test(url)) bulkDocs.push(Date.now());
    return fetch(input, init);
  };
  const c = emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(uniqueUser('confirm')), local: { adapter: 'memory' }, fetch: fetchFn }));
  await c.ready();
  await waitFor(() => c.sync.status === 'idle', 10_000, 'idle');
  await sleep(300);
  const t0 = Date.now();
  revsDiffs.length = 0;
  bulkDocs.length = 0;
  for (let i = 0; i < 100; i++) {
    void c.store.set(`k${i % 5}`, { i });
    await sleep(20);
  }
  const seconds = Math.ceil((Date.now() - t0) / 1_000);
  const during = revsDiffs.filter((t) => t >= t0).length;
  expect(bulkDocs.length).toBeGreaterThan(20); // sent as they came, in many batches
  // About one a second (was one per 100 ms): ~2 s at rest, longer on a loaded machine, where the 20 ms sleeps stretch.
  expect(during).toBeLessThanOrEqual(seconds + 2);
  await waitFor(async () => (await c.sync.pending()) === 0, 10_000, 'pending() to reach 0');
});
