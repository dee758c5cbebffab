/**
 * REST and token answers that stall after their headers (a half-open connection, a proxy that stops relaying): ky's
 * timeout ends with the headers, so the body is bounded by the same limit; `close()` ends `client.api` calls in flight.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFeatClient, isFeatError } from '@feat/sdk';
import { createFeatApi } from '@feat/sdk/api';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { uniqueUser, useEmulator } from '../support/backend.js';

const emu = useEmulator();
let api: FaultProxy;
let accounts: FaultProxy;
beforeAll(async () => {
  api = await startFaultProxy(emu.apiUrl);
  accounts = await startFaultProxy(emu.accountsUrl);
});
afterAll(async () => {
  await api.close();
  await accounts.close();
});
const tag = (p: Promise<unknown>) => {
  const t0 = Date.now();
  return p
    .then(
      () => 'ok',
      (e: unknown) => (isFeatError(e) ? (e.code === 'bad_response' ? `bad_response: ${e.message} / cause: ${String((e as { cause?: unknown }).cause)}` : e.code) : `RAW ${String(e)}`),
    )
    .then((s) => ({ outcome: s, ms: Date.now() - t0 }));
};
const bounded = <T>(p: Promise<T>, ms: number) => Promise.race([p, new Promise<{ outcome: string; ms: number }>((r) => setTimeout(r, ms, { outcome: 'HANG', ms }))]);

describe('REST answer stalls after its headers', () => {
  it('createFeatApi({ timeout: 1500 }): commentCount rejects with timeout within a few seconds', async () => {
    const off = api.fault(() => true, 'stall');
    try {
      const rest = createFeatApi({ apiUrl: api.url, auth: emu.bearerFor(uniqueUser('api')), timeout: 1_500, retry: 0 } as never);
      const r = await bounded(tag(rest.activity.commentCount({ target_type: 400 })), 20_000);
      expect(r.outcome).toBe('timeout');
    } finally {
      off();
      api.release();
    }
  }, 40_000);

  it('createFeatApi: the per-call { timeout: 1500 } bounds a stalled answer', async () => {
    const off = api.fault(() => true, 'stall');
    try {
      const rest = createFeatApi({ apiUrl: api.url, auth: emu.bearerFor(uniqueUser('api')), retry: 0 } as never);
      const r = await bounded(tag(rest.activity.commentCount({ target_type: 400 }, { timeout: 1_500 })), 20_000);
      expect(r.outcome).toBe('timeout');
    } finally {
      off();
      api.release();
    }
  }, 40_000);

  it('createFeatApi: a signal aborts a stalled answer', async () => {
    const off = api.fault(() => true, 'stall');
    try {
      const rest = createFeatApi({ apiUrl: api.url, auth: emu.bearerFor(uniqueUser('api')), retry: 0 } as never);
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 1_000);
      const r = await bounded(tag(rest.activity.commentCount({ target_type: 400 }, { signal: ac.signal })), 20_000);
      expect(r.outcome).toBe('aborted');
    } finally {
      off();
      api.release();
    }
  }, 40_000);

  it('client.api: a call in flight on a stalled answer is ended by close() at once, with closed', async () => {
    const off = api.fault(() => true, 'stall');
    try {
      const c = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, apiUrl: api.url, auth: emu.bearerFor(uniqueUser('api')), requestTimeout: 15_000 });
      const call = tag(c.api!.activity.commentCount({ target_type: 400 }));
      await new Promise((r) => setTimeout(r, 500));
      const closing = Date.now();
      await c.close();
      const r = await bounded(call, 20_000);
      expect(r.outcome).toBe('closed');
      expect(Date.now() - closing).toBeLessThan(5_000);
    } finally {
      off();
      api.release();
    }
  }, 40_000);

  it('accounts token answer stalls after its headers: ready() rejects with timeout (requestTimeout 1500)', async () => {
    const off = accounts.fault(() => true, 'stall');
    try {
      const c = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: accounts.url, auth: emu.bearerFor(uniqueUser('tok')), requestTimeout: 1_500, mode: 'remote' });
      const r = await bounded(tag(c.ready()), 20_000);
      await c.close();
      expect(r.outcome).toBe('timeout');
    } finally {
      off();
      accounts.release();
    }
  }, 40_000);

  it('api.accounts.couchToken() with a stalled answer rejects with timeout', async () => {
    const off = accounts.fault(() => true, 'stall');
    try {
      const rest = createFeatApi({ apiUrl: emu.apiUrl, accountsUrl: accounts.url, auth: emu.bearerFor(uniqueUser('tok')), timeout: 1_500, retry: 0 } as never);
      const r = await bounded(tag(rest.accounts.couchToken()), 20_000);
      expect(r.outcome).toBe('timeout');
    } finally {
      off();
      accounts.release();
    }
  }, 40_000);
});
