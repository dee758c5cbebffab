/**
 * Sessions and the network from outside: a rotated proxy secret, a server that drops and comes back, query warnings,
 * and export → import across accounts and modes.
 */
import { describe, expect, it } from 'vitest';
import { isFeatError } from '@feat/sdk';
import { text, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { LOCAL, MODES, REMOTE, clientFor, within } from './helpers.js';

const emu = useEmulator();

describe.each(MODES)('session and network: $name', (mode) => {
  it('a rotated proxy secret: the next calls fetch a new token once and succeed', async () => {
    const c = clientFor(emu, uniqueUser('rot'), mode.options);
    await c.ready();
    await c.store.set('before', 1);
    await c.sync.waitForPush({ timeout: 20_000 });
    emu.rotateSecret();
    await within(c.store.set('after', 2), 20_000, 'set after rotation');
    await within(c.sync.waitForPush({ timeout: 20_000 }), 25_000, 'push after rotation');
    expect(await c.store.get('after')).toBe(2);
    const other = clientFor(emu, c.session!.userName, REMOTE);
    await other.ready();
    expect(await other.store.get('after')).toBe(2);
    expect(c.sync.status).not.toBe('denied');
  });

  it('the server drops and comes back: calls fail fast with network (remote) or queue (local-first); then everything arrives', async () => {
    const user = uniqueUser('drop');
    const c = clientFor(emu, user, { ...mode.options, requestTimeout: 3_000 });
    await c.ready();
    await c.store.set('k0', 0);
    await c.sync.waitForPush({ timeout: 20_000 });
    await emu.suspend();
    try {
      const outcome = await within(
        c.store.set('k1', 1).then(
          () => 'resolved',
          (e: unknown) => (isFeatError(e) ? e.code : String(e)),
        ),
        20_000,
        'set while the server is down',
      );
      expect(outcome).toBe(mode.name === 'remote' ? 'network' : 'resolved');
      if (mode.name !== 'remote') {
        expect(await c.sync.pending()).toBeGreaterThan(0);
        await waitFor(() => c.sync.status === 'offline', 20_000, 'status offline');
      }
    } finally {
      await emu.resume();
    }
    if (mode.name === 'remote') await within(c.store.set('k1', 1), 20_000, 'set after resume');
    await within(c.sync.waitForPush({ timeout: 30_000 }), 35_000, 'push after resume');
    const other = clientFor(emu, user, REMOTE);
    await other.ready();
    expect(await other.store.get('k1')).toBe(1);
    await waitFor(() => c.sync.status === 'idle', 20_000, 'status idle again');
  }, 90_000);

  it('while the server is down: local-first find/get/keys answer from the replica; remote ones fail fast with network', async () => {
    const c = clientFor(emu, uniqueUser('offq'), { ...mode.options, requestTimeout: 3_000 });
    await c.ready();
    await c.store.set('o:1', { n: 1 });
    await c.store.find({ prefix: 'o:', sort: ['n'] });
    await c.sync.waitForPush({ timeout: 20_000 });
    await emu.suspend();
    try {
      const run = (p: Promise<unknown>) =>
        within(
          p.then(
            (v) => JSON.stringify(v),
            (e: unknown) => (isFeatError(e) ? e.code : String(e)),
          ),
          20_000,
          'a read while down',
        );
      const got = [await run(c.store.find({ prefix: 'o:', sort: ['n'] })), await run(c.store.get('o:1')), await run(c.store.keys('o:'))];
      if (mode.name === 'remote') expect(got).toEqual(['network', 'network', 'network']);
      else expect(got).toEqual([JSON.stringify([{ key: 'o:1', value: { n: 1 } }]), JSON.stringify({ n: 1 }), JSON.stringify(['o:1'])]);
    } finally {
      await emu.resume();
    }
  }, 60_000);

  it('find on a field with no index reports the engine warning through onWarning', async () => {
    const c = clientFor(emu, uniqueUser('warn'), mode.options);
    await c.ready();
    await c.store.set('w1', { color: 'red' });
    const warnings: string[] = [];
    const found = await c.store.find({ selector: { color: 'red' } }, { onWarning: (w) => warnings.push(w) });
    expect(found.map((r) => r.key)).toEqual(['w1']);
    expect(warnings.length).toBeGreaterThan(0);
  });

  it('export → import into another account (other mode): every key, part, big value and TTL comes back the same', async () => {
    const a = clientFor(emu, uniqueUser('exp'), { ...mode.options, maxDocumentBytes: 200_000 });
    await a.ready();
    const values: Record<string, unknown> = { plain: { x: 1 }, 'odd key/?#%': 'é😀', big: text(700_000, 7), n: 0, f: false, z: null };
    for (const [k, v] of Object.entries(values)) await a.store.set(k, v as never);
    await a.store.setParts('doc', { 'x:y': 1, 'p%': [1, 2], big: text(300_000, 8) });
    await a.store.set('soon', 'expires', { ttl: 3_600_000 });
    await a.store.set('gone', 'expired', { ttl: 1 });
    await new Promise((r) => setTimeout(r, 20));
    const progress: string[] = [];
    const dump = await a.exportData({ onProgress: (p) => progress.push(p.phase) });
    expect(progress.length).toBeGreaterThan(0);
    const b = clientFor(emu, uniqueUser('imp'), { ...(mode.name === 'remote' ? LOCAL : REMOTE), maxDocumentBytes: 200_000 });
    await b.ready();
    await b.importData(dump);
    for (const [k, v] of Object.entries(values)) expect((await b.store.get(k)) ?? 'absent', k).toEqual(v ?? 'absent');
    expect(await b.store.get('z')).toBeNull();
    expect(await b.store.getParts('doc')).toEqual({ 'x:y': 1, 'p%': [1, 2], big: text(300_000, 8) });
    expect(await b.store.get('soon')).toBe('expires');
    expect(await b.store.get('gone')).toBeUndefined();
    expect(await b.store.keys()).toEqual(await a.store.keys());
  }, 90_000);
});
