/**
 * What goes on the wire (issue 3): proxy headers only to `couchUrl`, `credentials: 'omit'` everywhere, no
 * client-chosen roles, redirects never followed with credentials, and a `fetch` option that may wrap or clone freely.
 */
import { http, HttpResponse } from 'msw';
import { describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { startEmulator } from '@feat/emulator';
import { dbNameOf, recorder, type Recorder, rejectsWith, uniqueName, urlOf, useBackend, recordingClient } from '../session/harness.js';

const { emu, clients, server } = useBackend();

function client(name: string, rec: Recorder, extra: Partial<FeatClientOptions> = {}): FeatClient {
  return recordingClient(clients, emu, name, rec, extra);
}

/** A bit of everything the store does over the wire. */
async function exercise(c: FeatClient): Promise<void> {
  await c.ready();
  await Promise.all([c.store.set('a', { n: 1 }), c.store.set('b', 'two'), c.store.setItem('c', 'three')]);
  await c.store.get('a');
  await c.store.getItem('missing');
  await c.store.setParts('p', { x: 1, y: 2 });
  await c.store.getParts('p');
  await c.store.keys();
  await c.store.remove('b');
  await c.store.flush();
}

const PROXY_HEADERS = ['x-auth-couchdb-username', 'x-auth-couchdb-token'];

describe('headers and credentials', () => {
  it('proxy headers on every couchUrl request, never on the accounts request; credentials omitted everywhere', async () => {
    const name = uniqueName('wire');
    const rec = recorder();
    await exercise(client(name, rec));

    const couch = rec.to(emu.couchUrl);
    const accounts = rec.to(emu.accountsUrl);
    expect(couch.length).toBeGreaterThan(8);
    expect(accounts).toHaveLength(1);
    expect(couch.length + accounts.length).toBe(rec.calls.length);

    const token = emu.couchHeadersFor(name)['X-Auth-CouchDB-Token'];
    for (const call of couch) {
      expect(call.headers.get('x-auth-couchdb-username'), `${call.method} ${call.path}`).toBe(name);
      expect(call.headers.get('x-auth-couchdb-token'), `${call.method} ${call.path}`).toBe(token);
      expect(call.headers.has('authorization'), `${call.method} ${call.path}`).toBe(false);
    }
    for (const call of accounts) {
      for (const h of PROXY_HEADERS) expect(call.headers.has(h)).toBe(false);
      expect(call.headers.get('authorization')).toBe(emu.bearerFor(name));
    }
    for (const call of rec.calls) expect(call.credentials, `${call.method} ${call.url}`).toBe('omit');
    // Every CouchDB request refuses to follow redirects by itself.
    for (const call of couch) expect(call.redirect, `${call.method} ${call.path}`).toBe('manual');
  });

  it('an X-Auth-CouchDB-Roles header from the session option is never sent', async () => {
    const name = uniqueName('roles');
    const rec = recorder();
    const c = createFeatClient({
      couchUrl: emu.couchUrl,
      session: { dbName: dbNameOf(name), headers: { ...emu.couchHeadersFor(name), 'X-Auth-CouchDB-Roles': '_admin' } },
      mode: 'remote',
      fetch: rec.fetch,
    });
    clients.push(c);
    await exercise(c);
    expect(rec.calls.length).toBeGreaterThan(0);
    for (const call of rec.calls) expect(call.headers.has('x-auth-couchdb-roles'), `${call.method} ${call.path}`).toBe(false);
  });

  it('an X-Auth-CouchDB-Roles header in the token response (msw) is never sent either', async () => {
    const name = uniqueName('roles-token');
    server.use(
      http.get(`${emu.accountsUrl}/couchdb/token/`, () =>
        HttpResponse.json({
          data: { headers: { ...emu.couchHeadersFor(name), 'x-auth-couchdb-roles': '_admin,_reader' }, dbname: dbNameOf(name) },
        }),
      ),
    );
    const rec = recorder();
    await exercise(client(name, rec));
    const couch = rec.to(emu.couchUrl);
    expect(couch.length).toBeGreaterThan(0);
    for (const call of couch) expect(call.headers.has('x-auth-couchdb-roles'), `${call.method} ${call.path}`).toBe(false);
  });

  it('a fetch wrapper that clones every response (e.g. for logging) works, including the 404, 401 and retry paths', async () => {
    const own = await startEmulator({ peruserDelayMs: 100 });
    try {
      const name = uniqueName('clone');
      const seen: string[] = [];
      const cloning: typeof fetch = async (input, init) => {
        const response = await globalThis.fetch(input, init);
        // Keep a clone around without reading it: the client must not wait for it.
        const copy = response.clone();
        seen.push(`${init?.method ?? 'GET'} ${new URL(urlOf(input)).pathname} ${copy.status}`);
        return response;
      };
      const c = createFeatClient({ couchUrl: own.couchUrl, accountsUrl: own.accountsUrl, auth: emu.bearerFor(name), mode: 'remote', fetch: cloning });
      clients.push(c);
      // A bearer of another emulator: the accounts service answers 401 (once: the same value is not sent again).
      await rejectsWith(c.ready(), 'unauthorized');
      const good = createFeatClient({ couchUrl: own.couchUrl, accountsUrl: own.accountsUrl, auth: own.bearerFor(name), mode: 'remote', fetch: cloning });
      clients.push(good);
      await expect(good.ready()).resolves.toEqual({ userName: name, dbName: dbNameOf(name) });
      await good.store.set('k', 1);
      own.rotateSecret();
      await expect(good.store.get('k')).resolves.toBe(1);
      expect(seen).toContain(`GET /${dbNameOf(name)}/ 404`);
      expect(seen.filter((line) => line.endsWith(' 401')).length).toBeGreaterThanOrEqual(2);
    } finally {
      await own.stop();
    }
  });
});

describe('redirects', () => {
  it('a 302 from CouchDB to another origin is not followed (no credentials leave) and surfaces as an error', async () => {
    const name = uniqueName('redirect');
    const rec = recorder();
    const c = client(name, rec);
    const { dbName } = await c.ready();
    await c.store.set('k', 'v');
    const elsewhere: Request[] = [];
    server.use(
      http.get(`${emu.couchUrl}/${dbName}/k`, () => new HttpResponse(null, { status: 302, headers: { Location: 'http://elsewhere.test/steal' } }), {
        once: true,
      }),
      http.all('http://elsewhere.test/*', ({ request }) => {
        elsewhere.push(request);
        return HttpResponse.json({ _id: 'k', doc: 'stolen' });
      }),
    );
    const error = await rejectsWith(c.store.get('k'), 'bad_response');
    expect(error.status).toBe(302);
    expect(error.key).toBe('k');
    expect(error.message).toContain('redirect');
    expect(elsewhere).toEqual([]);
    expect(rec.calls.some((call) => call.url.startsWith('http://elsewhere.test'))).toBe(false);
    // Only that one request was redirected: the next read works.
    await expect(c.store.get('k')).resolves.toBe('v');
  });

  it('a 307 on a write is not followed either; nothing is written', async () => {
    const name = uniqueName('redirect-write');
    const c = client(name, recorder());
    const { dbName } = await c.ready();
    await c.store.set('k', 'v1');
    const elsewhere: Request[] = [];
    server.use(
      http.post(`${emu.couchUrl}/${dbName}/_bulk_docs`, () => new HttpResponse(null, { status: 307, headers: { Location: 'http://elsewhere.test/w' } }), {
        once: true,
      }),
      http.all('http://elsewhere.test/*', ({ request }) => {
        elsewhere.push(request);
        return HttpResponse.json([]);
      }),
    );
    const error = await rejectsWith(c.store.set('k', 'v2'), 'bad_response');
    expect(error.status).toBe(307);
    expect(elsewhere).toEqual([]);
    await expect(c.store.get('k')).resolves.toBe('v1');
  });
});
