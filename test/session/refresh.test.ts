/**
 * 401 from CouchDB (issue 3): fetch a new token once and retry; still 401 → `unauthorized`; never loop (CouchDB ≥ 3.4
 * locks out an address after repeated failed authentications), back off between refreshes that did not help.
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { startEmulator, type Emulator } from '@feat/emulator';
import { ON_REAL } from '../support/target.js';
import { couchJson, dbNameOf, recorder, type Recorder, rejectsWith, uniqueName, useBackend, recordingClient } from './harness.js';

const { emu, clients } = useBackend();

function client(on: Emulator, userName: string, rec: Recorder = recorder(), extra: Partial<FeatClientOptions> = {}): FeatClient {
  return recordingClient(clients, on, userName, rec, extra);
}

const tokens = (rec: Recorder, on: Emulator) => rec.to(on.accountsUrl).length;
const unauthorized = () => couchJson(401, { error: 'unauthorized', reason: 'Authentication required.' });

describe('rotated secret', () => {
  it('the next set and get succeed with exactly one extra token request', async () => {
    // Its own emulator: rotating the secret must not disturb the other tests.
    const own = await startEmulator();
    try {
      const name = uniqueName('rotate');
      const rec = recorder();
      const c = client(own, name, rec);
      await c.ready();
      await c.store.set('k', 'before');
      expect(tokens(rec, own)).toBe(1);

      own.rotateSecret();
      rec.reset();
      await c.store.set('k', 'after');
      expect(tokens(rec, own)).toBe(1);
      // The first request was refused once (401) and sent again, unchanged but with the new token; nothing else was refused.
      const couch = rec.to(own.couchUrl);
      expect(couch.map((call) => call.status).filter((status) => status === 401)).toEqual([401]);
      const [refused, retried] = couch;
      expect(refused?.status).toBe(401);
      expect(retried && [retried.method, retried.url, retried.body]).toEqual([refused?.method, refused?.url, refused?.body]);
      expect(retried?.headers.get('x-auth-couchdb-token')).toBeTruthy();
      expect(retried?.headers.get('x-auth-couchdb-token')).not.toBe(refused?.headers.get('x-auth-couchdb-token'));

      await expect(c.store.get('k')).resolves.toBe('after');
      expect(tokens(rec, own)).toBe(1);

      // And a read is the first call after the next rotation.
      own.rotateSecret();
      rec.reset();
      await expect(c.store.get('k')).resolves.toBe('after');
      expect(tokens(rec, own)).toBe(1);
    } finally {
      await own.stop();
    }
  });

  it('concurrent calls that all meet the 401 share one refresh', async () => {
    const own = await startEmulator();
    try {
      const name = uniqueName('rotate-many');
      const rec = recorder();
      const c = client(own, name, rec);
      await c.ready();
      await Promise.all([c.store.set('a', 1), c.store.set('b', 2)]);
      own.rotateSecret();
      rec.reset();
      const started = Date.now();
      await expect(Promise.all([c.store.get('a'), c.store.get('b'), c.store.get('c'), c.store.keys()])).resolves.toEqual([
        1,
        2,
        undefined,
        ['a', 'b'],
      ]);
      expect(tokens(rec, own)).toBe(1);
      // No backoff for a refresh that helped (the SDK's backoff between refreshes is ≥ 400 ms). On the real stack the
      // token request also waits for the harness: after a rotation its admin session is stale and is made again.
      expect(Date.now() - started).toBeLessThan(ON_REAL ? 1_500 : 400);
    } finally {
      await own.stop();
    }
  });
});

describe('CouchDB keeps answering 401', () => {
  it('from the start: ready() → unauthorized after one refresh; nothing is created', async () => {
    const name = uniqueName('deny-boot');
    const rec = recorder((call) => (call.url.startsWith(emu.couchUrl) ? unauthorized() : undefined));
    const c = client(emu, name, rec);
    const error = await rejectsWith(c.ready(), 'unauthorized');
    expect(error.status).toBe(401);
    expect(tokens(rec, emu)).toBe(2);
    expect(rec.to(emu.couchUrl).map((call) => `${call.method} ${call.path}`)).toEqual([
      `GET /${dbNameOf(name)}/`,
      `GET /${dbNameOf(name)}/`,
    ]);
    expect(c.session).toBeUndefined();
  });

  it('after ready: each failing call costs at most one refresh, with backoff between refreshes; the client recovers', async () => {
    const name = uniqueName('deny');
    let deny = false;
    const rec = recorder((call) => (deny && call.url.startsWith(emu.couchUrl) ? unauthorized() : undefined));
    const c = client(emu, name, rec);
    await c.ready();
    await c.store.set('kept', 'v1');
    deny = true;
    rec.reset();

    await rejectsWith(c.store.get('kept'), 'unauthorized');
    expect(tokens(rec, emu)).toBeLessThanOrEqual(2);
    expect(rec.to(emu.couchUrl).length).toBeLessThanOrEqual(2);

    const write = await rejectsWith(c.store.set('kept', 'v2'), 'unauthorized');
    expect(write.status).toBe(401);
    expect(tokens(rec, emu)).toBeLessThanOrEqual(4);
    expect(rec.to(emu.couchUrl).length).toBeLessThanOrEqual(4);

    // Refreshes that did not help are spaced out (CouchDB's lockout), not fired back to back.
    const tokenTimes = rec.to(emu.accountsUrl).map((call) => call.at);
    expect(tokenTimes.length).toBeGreaterThanOrEqual(2);
    expect(tokenTimes.at(-1)! - tokenTimes.at(-2)!).toBeGreaterThanOrEqual(400);

    // Nothing was written meanwhile, and the client works again once CouchDB accepts it.
    deny = false;
    await expect(c.store.get('kept')).resolves.toBe('v1');
    await c.store.set('kept', 'v3');
    await expect(c.store.get('kept')).resolves.toBe('v3');
  });

  it('with the session option (no accountsUrl): unauthorized at once, without any refresh', async () => {
    const name = uniqueName('deny-session');
    await emu.createUser(name);
    const rec = recorder();
    const c = createFeatClient({
      couchUrl: emu.couchUrl,
      session: { dbName: dbNameOf(name), headers: { 'X-Auth-CouchDB-UserName': name, 'X-Auth-CouchDB-Token': 'f'.repeat(40) } },
      mode: 'remote',
      fetch: rec.fetch,
    });
    clients.push(c);
    const started = Date.now();
    const error = await rejectsWith(c.ready(), 'unauthorized');
    expect(error.status).toBe(401);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(rec.calls.map((call) => `${call.method} ${call.path} ${call.status}`)).toEqual([`GET /${dbNameOf(name)}/ 401`]);
  });

  it('with the session option after ready: a rotated secret → unauthorized at once, nothing written', async () => {
    const own = await startEmulator();
    try {
      const name = uniqueName('session-rotate');
      await own.createUser(name);
      const rec = recorder();
      const c = createFeatClient({
        couchUrl: own.couchUrl,
        session: { dbName: dbNameOf(name), headers: own.couchHeadersFor(name) },
        mode: 'remote',
        fetch: rec.fetch,
      });
      clients.push(c);
      await c.store.set('k', 'v1');
      own.rotateSecret();
      rec.reset();
      await rejectsWith(c.store.set('k', 'v2'), 'unauthorized');
      expect(rec.calls).toHaveLength(1);
      // Read back with the new secret's headers: the old value is intact.
      const fresh = createFeatClient({
        couchUrl: own.couchUrl,
        session: { dbName: dbNameOf(name), headers: own.couchHeadersFor(name) },
        mode: 'remote',
      });
      clients.push(fresh);
      await expect(fresh.store.get('k')).resolves.toBe('v1');
    } finally {
      await own.stop();
    }
  });
});
