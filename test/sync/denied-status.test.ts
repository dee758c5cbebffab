/**
 * Local-first, the account refused under a running client (deleted or disabled: the accounts service answers 401 or
 * 403, CouchDB 401). README "Sync": the status is `denied` and stays so while nothing goes through — a retry is not
 * `active` (as for `offline`) — the refusal is reported once per episode, not at every retry, and once the account is
 * back sync recovers by itself and pushes everything written meanwhile.
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { startFaultProxy } from '../support/fault-proxy.js';

const emu = useEmulator();

// The two cases share nothing (each its own user, proxies and client, cleaned up when it ends): they run side by side.
describe.concurrent.each([401, 403])('local-first, the account refused (accounts service %i, CouchDB 401)', (accountsStatus) => {
  it('status stays `denied` until something goes through, one error event, recovery pushes what was written meanwhile', async ({ onTestFinished }) => {
    const cleanups: (() => unknown)[] = [];
    onTestFinished(async () => {
      for (const c of cleanups.splice(0).reverse()) await c();
    });
    const user = uniqueUser('denied-lf');
    const couch = await startFaultProxy(emu.couchUrl);
    const accounts = await startFaultProxy(emu.accountsUrl);
    cleanups.push(() => couch.close(), () => accounts.close());
    const statuses: string[] = [];
    const errors: string[] = [];
    const c = createFeatClient({ couchUrl: couch.url, accountsUrl: accounts.url, auth: emu.bearerFor(user), local: { adapter: 'memory' }, requestTimeout: 3_000, maintenance: { enabled: false } });
    cleanups.push(() => c.close().catch(() => undefined));
    c.sync.on('status', (s) => statuses.push(s));
    c.sync.on('error', (e) => errors.push(e.code));
    await c.ready();
    await c.store.set('before', 1);
    await c.sync.waitForPush({ timeout: 10_000 });

    accounts.fault(() => true, 'answer', { status: accountsStatus, body: { detail: 'User is inactive or deleted.' } });
    couch.fault(() => true, 'answer', { status: 401, body: { error: 'unauthorized', reason: 'Name or password is incorrect.' } });
    const a0 = accounts.log.length;
    await c.store.set('during1', 1);
    await waitFor(() => c.sync.status === 'denied', 10_000, `status denied (now ${c.sync.status})`);
    const from = statuses.length - 1;
    // Several retries of the push side (backoff 0.5 s … 8 s), each refused.
    await sleep(6_000);
    await c.store.set('during2', 2);
    await sleep(6_000);
    expect(c.sync.status).toBe('denied');
    expect(statuses.slice(from), `statuses ${statuses.join(',')}`).toEqual(['denied']);
    expect(errors, `errors ${errors.join(',')}`).toHaveLength(1);
    expect(['unauthorized', 'forbidden']).toContain(errors[0]);
    expect(accounts.log.length - a0).toBeLessThan(12);
    expect(await c.store.get('during2')).toBe(2);

    couch.clear();
    accounts.clear();
    await waitFor(async () => c.sync.status === 'idle' && (await c.sync.pending()) === 0, 60_000, `recovery (status ${c.sync.status})`);
    const reader = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote' });
    cleanups.push(() => reader.close().catch(() => undefined));
    expect([await reader.store.get('before'), await reader.store.get('during1'), await reader.store.get('during2')]).toEqual([1, 1, 2]);
  }, 120_000);
});
