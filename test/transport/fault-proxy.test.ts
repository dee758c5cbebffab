/** The fault proxy itself (test/support/fault-proxy.ts): each action does what the fault tests rely on. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useEmulator } from '../support/backend.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';

const emu = useEmulator({ peruserDelayMs: 0 });
let proxy: FaultProxy;
beforeAll(async () => {
  proxy = await startFaultProxy(emu.accountsUrl);
});
afterAll(async () => {
  await proxy.close();
});

const token = (signal?: AbortSignal) =>
  fetch(`${proxy.url}/couchdb/token/`, { headers: { Authorization: emu.bearerFor('fp-user') }, ...(signal ? { signal } : {}) });

describe('fault proxy', () => {
  it('passes requests through unchanged', async () => {
    const res = await token();
    expect(res.status).toBe(200);
    expect(((await res.json()) as { data: { dbname: string } }).data.dbname).toMatch(/^userdb-/);
  });

  it('hold: the request is never answered; release() resets it', async () => {
    proxy.fault({ path: '/couchdb/token/' }, 'hold', { times: 1 });
    const pending = token().then(
      () => 'answered',
      () => 'failed',
    );
    const raced = await Promise.race([pending, new Promise((r) => setTimeout(() => r('still pending'), 300))]);
    expect(raced).toBe('still pending');
    expect(proxy.held).toBe(1);
    proxy.release();
    expect(await pending).toBe('failed');
    expect((await token()).status).toBe(200); // times: 1
  });

  it('reset: the connection is destroyed', async () => {
    proxy.fault({ method: 'GET' }, 'reset', { times: 1 });
    await expect(token()).rejects.toThrow(TypeError);
    expect(proxy.counts.reset).toBeGreaterThanOrEqual(1);
  });

  it('delay: answered after the delay', async () => {
    proxy.fault(() => true, 'delay', { times: 1, delayMs: 400 });
    const started = Date.now();
    expect((await token()).status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(380);
  });

  it('swallow: the server handles the request, the answer never comes', async () => {
    const before = proxy.log.length;
    proxy.fault({ path: /token/ }, 'swallow', { times: 1 });
    const aborted = token(AbortSignal.timeout(400));
    await expect(aborted).rejects.toThrow();
    expect(proxy.log[before]?.action).toBe('swallow');
    proxy.release();
  });
});
