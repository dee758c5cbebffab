/**
 * Write-path promises from outside: coalescing, flush, "only changed parts", pending counts, refused sessions.
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, isFeatError, type FeatClientOptions } from '@feat/sdk';
import { createFeatApi } from '@feat/sdk/api';
import { uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { MODES, REMOTE, clientFor, within } from './helpers.js';

const emu = useEmulator();
const writes = (requests: string[]) => requests.filter((r) => /^(PUT|POST) /.test(r) && /_bulk_docs|\/[^_/][^/]*$/.test(r.split('?')[0]!) && !r.includes('/_users'));

describe.each(MODES)('writes: $name', (mode) => {
  it('rapid sets of one key: every promise resolves, the last value wins everywhere, fewer writes than calls (remote)', async () => {
    const user = uniqueUser('rapid');
    const c = clientFor(emu, user, mode.options);
    await c.ready();
    await c.store.set('warm', 0);
    const before = c.requests.length;
    const calls = Array.from({ length: 30 }, (_, i) => c.store.set('hot', { i }));
    await within(Promise.all(calls), 20_000, 'all sets');
    expect(await c.store.get('hot')).toEqual({ i: 29 });
    await c.sync.waitForPush({ timeout: 20_000 });
    const other = clientFor(emu, user, REMOTE);
    await other.ready();
    expect(await other.store.get('hot')).toEqual({ i: 29 });
    if (mode.name === 'remote') {
      const sent = writes(c.requests.slice(before)).length;
      expect(sent).toBeGreaterThan(0);
      expect(sent).toBeLessThan(30);
    }
  });

  it('flush(): a set and a remove not awaited are durable when flush resolves (another client reads them)', async () => {
    const user = uniqueUser('flush');
    const c = clientFor(emu, user, mode.options);
    await c.ready();
    await c.store.set('gone', 1);
    void c.store.set('f', 'flushed');
    void c.store.remove('gone');
    await within(c.store.flush(), 20_000, 'flush');
    if (mode.name === 'remote') {
      const other = clientFor(emu, user, REMOTE);
      await other.ready();
      expect(await other.store.get('f')).toBe('flushed');
      expect(await other.store.get('gone')).toBeUndefined();
    } else {
      expect(await c.sync.pending()).toBeGreaterThanOrEqual(0);
      expect(await c.store.get('f')).toBe('flushed');
    }
  });

  it('setParts with unchanged content writes nothing; replace with the same parts writes nothing', async () => {
    const c = clientFor(emu, uniqueUser('same'), mode.options);
    await c.ready();
    const parts = { a: { x: 1 }, b: 'two', c: [3] };
    const start = c.requests.length;
    await c.store.setParts('p', parts);
    await c.store.flush();
    await c.sync.waitForPush({ timeout: 20_000 });
    expect(writes(c.requests.slice(start)).length).toBeGreaterThan(0);
    const before = c.requests.length;
    await c.store.setParts('p', { ...parts });
    await c.store.setParts('p', { c: [3], b: 'two', a: { x: 1 } }, { replace: true });
    await c.store.flush();
    await c.sync.waitForPush({ timeout: 20_000 });
    await new Promise((r) => setTimeout(r, 300));
    expect(writes(c.requests.slice(before))).toEqual([]);
    expect(await c.sync.pending()).toBe(0);
  });

  it('pending(): grows with unpushed writes (local-first) and comes back to 0; the pending event reports it', async () => {
    const c = clientFor(emu, uniqueUser('pend'), mode.options);
    await c.ready();
    const counts: number[] = [];
    const off = c.sync.on('pending', (n) => counts.push(n));
    try {
      await Promise.all(Array.from({ length: 5 }, (_, i) => c.store.set(`k${i}`, i)));
      await c.sync.waitForPush({ timeout: 20_000 });
      await waitFor(async () => (await c.sync.pending()) === 0, 20_000, 'pending 0');
      if (mode.name !== 'remote') {
        expect(Math.max(...counts)).toBeGreaterThan(0);
        await waitFor(() => counts.at(-1) === 0, 20_000, 'a pending event of 0');
      }
    } finally {
      off();
    }
  });

  it('session headers the server refuses → ready() rejects unauthorized and status is denied', async () => {
    const user = uniqueUser('sess');
    const token = await createFeatApi({ apiUrl: emu.apiUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user) }).accounts.couchToken();
    // Make the user and database exist first.
    const ok = clientFor(emu, user, REMOTE);
    await ok.ready();
    const wrong = { ...token.headers };
    for (const k of Object.keys(wrong)) if (/token/i.test(k)) wrong[k] = '0'.repeat(40);
    const c = createFeatClient({ couchUrl: emu.couchUrl, session: { dbName: token.dbname, headers: wrong, userName: user }, ...mode.options } as FeatClientOptions);
    emu.track(c);
    const outcome = await within(
      c.ready().then(
        () => c.store.get('k'),
      ).then(
        () => 'resolved',
        (e: unknown) => (isFeatError(e) ? e.code : String(e)),
      ),
      20_000,
      'ready with refused session',
    );
    expect(outcome).toBe('unauthorized');
    expect(c.sync.status).toBe('denied');
  });
});
