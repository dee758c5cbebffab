/**
 * What a second device sees: ready() retried after a failure, watch events from another device, a resolver that
 * throws, pending writes seen by keys/getParts, logout then sign in again.
 */
import { describe, expect, it } from 'vitest';
import type { ChangeEvent } from '@feat/sdk';
import { isFeatError } from '@feat/sdk';
import { uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { LOCAL, MODES, REMOTE, clientFor, within } from './helpers.js';

const emu = useEmulator();

describe.each(MODES)('devices: $name', (mode) => {
  it('a ready() that failed because the server was down succeeds when called again', async () => {
    const c = clientFor(emu, uniqueUser('retry'), { ...mode.options, requestTimeout: 2_000, bootstrapTimeout: 2_000 });
    await emu.suspend();
    let first: unknown;
    try {
      first = await within(
        c.ready().then(
          () => 'resolved',
          (e: unknown) => (isFeatError(e) ? e.code : String(e)),
        ),
        20_000,
        'ready while down',
      );
    } finally {
      await emu.resume();
    }
    expect(first).toBe('network');
    const session = await within(c.ready(), 30_000, 'ready again');
    expect(session.dbName).toMatch(/^userdb-/);
    await c.store.set('k', 1);
    expect(await c.store.get('k')).toBe(1);
  }, 60_000);

  it('watch on one device reports another device’s insert, update, part and delete as origin remote, in order', async () => {
    const user = uniqueUser('watch');
    const a = clientFor(emu, user, mode.options);
    await a.ready();
    const events: ChangeEvent[] = [];
    const stop = a.store.watch('doc', (e) => events.push(e));
    const prefixEvents: ChangeEvent[] = [];
    const stop2 = a.store.watch({ prefix: 'do' }, (e) => prefixEvents.push(e));
    try {
      const b = clientFor(emu, user, mode.name === 'remote' ? LOCAL : REMOTE);
      await b.ready();
      await new Promise((r) => setTimeout(r, 300));
      await b.store.set('doc', { v: 1 });
      await b.store.set('doc', { v: 2 });
      await b.store.setParts('doc', { p: 'part' });
      await b.store.set('document', 'other key');
      await b.store.remove('doc');
      await b.sync.waitForPush({ timeout: 20_000 });
      // The delete of `doc` comes after its other events (four events, or three when the updates were coalesced).
      await waitFor(() => events.some((e) => e.subkey === undefined && e.kind === 'delete') && events.some((e) => e.subkey === 'p'), 20_000, 'the delete of doc and its part');
      await waitFor(() => prefixEvents.some((e) => e.key === 'document') && prefixEvents.some((e) => e.key === 'doc' && e.kind === 'delete'), 20_000, 'document and the delete of doc under prefix do');
      await new Promise((r) => setTimeout(r, 300));
      const shape = (e: ChangeEvent) => [e.key, e.subkey ?? null, e.kind, e.origin, e.value ?? null];
      // Local-first may coalesce the two updates of `doc` into one replicated revision; both shapes are allowed then.
      const seen = events.map(shape);
      const full = [
        ['doc', null, 'insert', 'remote', { v: 1 }],
        ['doc', null, 'update', 'remote', { v: 2 }],
        ['doc', 'p', 'insert', 'remote', 'part'],
        ['doc', null, 'delete', 'remote', null],
      ];
      // Coalesced, the first event is the second revision: the feed no longer says whether the key existed before the
      // watch began, so it may read as an insert or an update (never twice).
      const coalesced = (kind: string) => [
        ['doc', null, kind, 'remote', { v: 2 }],
        ['doc', 'p', 'insert', 'remote', 'part'],
        ['doc', null, 'delete', 'remote', null],
      ];
      // Each document's events in its order; the part is another document: read in one batch from a sharded CouchDB
      // (the real server's `q: 2`), changes of two documents come in the shards' order, not the order they were written.
      const ofDoc = (list: unknown[][]) => JSON.stringify(list.filter((e) => e[1] === null));
      expect([ofDoc(full), ofDoc(coalesced('insert')), ofDoc(coalesced('update'))]).toContain(ofDoc(seen));
      expect(seen.filter((e) => e[1] === 'p')).toEqual([['doc', 'p', 'insert', 'remote', 'part']]);
      expect(prefixEvents.map((e) => e.key)).toContain('document');
      expect(prefixEvents.every((e) => e.origin === 'remote')).toBe(true);
    } finally {
      stop();
      stop2();
    }
  }, 60_000);

  it('a resolver that throws makes the conflicting write reject with conflict (not hang, not overwrite)', async () => {
    const user = uniqueUser('throw');
    const a = clientFor(emu, user, REMOTE);
    await a.ready();
    await a.store.set('k', 'from a');
    const b = clientFor(emu, user, {
      ...mode.options,
      onConflict: () => {
        throw new Error('refuse');
      },
    });
    await b.ready();
    if (mode.name === 'remote') {
      // b never read k: its write meets a's version → resolver → throws → conflict.
      const outcome = await within(
        b.store.set('k', 'from b').then(
          () => 'resolved',
          (e: unknown) => (isFeatError(e) ? e.code : String(e)),
        ),
        20_000,
        'set',
      );
      expect(outcome).toBe('conflict');
      expect(await a.store.get('k')).toBe('from a');
    } else {
      // Local-first: the write is local; the replication conflict cannot be resolved, reported as an error event.
      const errors: string[] = [];
      b.sync.on('error', (e) => errors.push(e.code));
      b.sync.pause();
      await b.store.set('k2', 'from b');
      await a.store.set('k2', 'from a');
      b.sync.resume();
      await waitFor(() => errors.includes('conflict'), 20_000, 'a conflict error event');
    }
  }, 60_000);

  it('keys() and getParts() see this client’s writes that are not stored yet', async () => {
    const c = clientFor(emu, uniqueUser('pend'), mode.options);
    await c.ready();
    await c.store.set('p:old', 1);
    const w1 = c.store.set('p:new', 2);
    const w2 = c.store.remove('p:old');
    const w3 = c.store.setParts('pp', { a: 1, b: 2 });
    expect(await c.store.keys('p')).toEqual(['p:new', 'pp:a', 'pp:b']);
    expect(await c.store.getParts('pp')).toEqual({ a: 1, b: 2 });
    await Promise.all([w1, w2, w3]);
  });

  it('watch(key, listener, { initial: true }) (API.md, second round) delivers the current value first', async () => {
    const c = clientFor(emu, uniqueUser('init'), mode.options);
    await c.ready();
    await c.store.set('w', { v: 1 });
    const events: ChangeEvent[] = [];
    let stop: (() => void) | undefined;
    let thrown: unknown;
    try {
      stop = c.store.watch('w', (e) => events.push(e), { initial: true } as never);
    } catch (e) {
      thrown = e;
    }
    try {
      expect(thrown === undefined ? 'accepted' : String(thrown)).toBe('accepted');
      await waitFor(() => events.length > 0, 5_000, 'the current value').catch(() => undefined);
      expect(events.map((e) => [e.key, e.kind, e.origin, e.value])).toEqual([['w', 'insert', 'local', { v: 1 }]]);
    } finally {
      stop?.();
    }
  });

  it('a TTL value leaves get, getItem, keys and getParts when it expires, in both modes', async () => {
    const c = clientFor(emu, uniqueUser('ttl'), mode.options);
    await c.ready();
    await c.store.set('t:a', 'short', { ttl: 1_000 });
    await c.store.set('t:b', 'long', { ttl: 600_000 });
    await c.store.set('t', 'key itself');
    expect(await c.store.keys('t')).toEqual(['t', 't:a', 't:b']);
    await new Promise((r) => setTimeout(r, 1_300));
    expect(await c.store.get('t:a')).toBeUndefined();
    expect(await c.store.getItem('t:a')).toBeNull();
    expect(await c.store.keys('t')).toEqual(['t', 't:b']);
    // Current-value watches and queries over the expired value: no error, the expired value absent.
    const errors: string[] = [];
    const seen: string[] = [];
    const stop = c.store.watch('t', (e) => seen.push(`${e.key}|${e.subkey ?? ''}|${e.kind}`), { current: true, onError: (e) => errors.push(`watch: ${String(e)}`) });
    const queried: string[][] = [];
    const stopQ = c.store.watchQuery({ prefix: 't' }, (rs) => queried.push(rs.map((r) => `${r.key}|${r.subkey ?? ''}`)), { onError: (e) => errors.push(`watchQuery: ${String(e)}`) });
    try {
      await waitFor(() => (seen.length >= 2 && queried.length >= 1) || errors.length > 0, 10_000, 'current values');
      expect(errors).toEqual([]);
      expect(seen).toEqual(['t|b|insert', 't||insert']);
      expect(queried[0]).toEqual(['t|', 't|b']);
    } finally {
      stop();
      stopQ();
    }
    const settle = (p: Promise<unknown>) =>
      p.then(
        (v) => (v === undefined ? 'resolved' : v),
        (e: unknown) => String(e),
      );
    expect({
      getParts: await settle(c.store.getParts('t')),
      exportData: await settle(c.exportData().then(() => undefined)),
      setPartsReplace: await settle(c.store.setParts('t', { b: 'long', c: 'new' }, { replace: true })),
      removeParts: await settle(c.store.removeParts('t')),
    }).toEqual({ getParts: { b: 'long' }, exportData: 'resolved', setPartsReplace: 'resolved', removeParts: 'resolved' });
    expect(await c.store.keys('t')).toEqual(['t']);
  });

  it('logout({ destroyLocal }) then a new client of the same user finds the data on the server', async () => {
    const user = uniqueUser('relog');
    const a = clientFor(emu, user, mode.options);
    await a.ready();
    await a.store.set('kept', { v: 1 });
    await a.sync.waitForPush({ timeout: 20_000 });
    await within(a.logout({ destroyLocal: true }), 20_000, 'logout');
    expect(a.session).toBeUndefined();
    const again = clientFor(emu, user, mode.options);
    await again.ready();
    expect(await again.store.get('kept')).toEqual({ v: 1 });
  });
});
