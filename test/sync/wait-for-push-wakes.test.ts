/**
 * Local-first `waitForPush()` after a write looked at the server again only after its backoff's pause (50, 100, 200,
 * 400 … ms), however soon the push was answered: ~50 ms idle after a quick push (65–76 ms for ~15 ms of work, in most
 * calls, both backends), and up to the whole pause after a slow one. It now looks again as soon as the push stores a
 * batch or more writes are confirmed.
 */
import { describe, expect, it } from 'vitest';
import { uniqueUser, useEmulator, clientIn } from '../support/backend.js';
import { useFaultProxy } from '../support/fault-proxy.js';

const emu = useEmulator();
const couch = useFaultProxy(() => emu.couchUrl);

describe('waitForPush() after a write', () => {
  it('resolves soon after the push is answered, not after its backoff pause', async () => {
    const c = clientIn(emu, uniqueUser('wfp-wake'), 'local-first', { couchUrl: couch.url });
    await c.ready();
    await c.store.set('warm', 1);
    await c.sync.waitForPush({ timeout: 10_000 });
    const lags: number[] = [];
    for (let i = 0; i < 4; i++) {
      // The push's answer comes 450 ms late: the backoff's pauses (50 + 100 + 200 + 400 ms) end at 750 ms.
      couch.fault({ method: 'POST', path: /\/_bulk_docs$/ }, 'delay', { times: 1, delayMs: 450 });
      let answered = 0;
      const started = Date.now();
      await c.store.set('k', i);
      const waited = c.sync.waitForPush({ timeout: 10_000 }).then(() => Date.now());
      // When the push's answer came (the proxy logs the request; its answer is 450 ms after it).
      await expect.poll(() => couch.log.filter((r) => r.action === 'delay').length, { timeout: 5_000, interval: 5 }).toBe(i + 1);
      answered = Date.now() + 450;
      const resolved = await waited;
      lags.push(resolved - answered);
      expect(resolved - started).toBeGreaterThanOrEqual(400);
      await new Promise((r) => setTimeout(r, 300));
    }
    lags.sort((a, b) => a - b);
    // A look after the answer takes two quick requests; the backoff's next look came ~300 ms after it.
    expect(lags[1]).toBeLessThan(150);
  }, 60_000);
});
