/** What nginx and chttpd answer before any database is touched. Real answers stated. */
import { describe, expect, it } from 'vitest';
import { rawCapped } from '../raw-deadline.js';
import { j, ownDatabase } from './setup.js';

const { emu, send, state } = ownDatabase('f31path');

describe('nginx', () => {
  it('a path with an invalid percent escape → nginx 400 HTML page (no JSON, no JS error name)', async () => {
    for (const [method, path] of [['PUT', '/{db}/a%zzb'], ['GET', '/{db}/a%zzb'], ['GET', '/{db}/%']] as const) {
      const r = await send(method, path, method === 'PUT' ? j({}) : undefined);
      expect({ path, status: r.status, type: String(r.headers['content-type']) }).toEqual({ path, status: 400, type: 'text/html' });
      expect(r.text).toContain('<title>400 Bad Request</title>');
    }
  });

  it('TRACE → nginx 405 HTML page', async () => {
    const r = await send('TRACE', '/{db}/a');
    expect({ status: r.status, type: String(r.headers['content-type']) }).toEqual({ status: 405, type: 'text/html' });
    expect(r.text).toContain('<title>405 Not Allowed</title>');
  });

  it('a dot-segment path is normalised for the location rules: PUT /_users/x/../org.couchdb.user:<me> → 409 (exists)', async () => {
    const r = await send('PUT', `/_users/x/../org.couchdb.user:${state.user}`, j({}));
    expect({ status: r.status, body: r.body }).toEqual({ status: 409, body: { error: 'conflict', reason: 'Document update conflict.' } });
  });
});

describe('chttpd', () => {
  it('/_replicator → 403 forbidden (not 401 server admin)', async () => {
    const r = await send('GET', '/_replicator');
    expect({ status: r.status, body: r.body }).toEqual({ status: 403, body: { error: 'forbidden', reason: 'You are not allowed to access this db.' } });
  });

  it('wrong Basic credentials and no proxy headers → 401 "Name or password is incorrect."', async () => {
    const r = await rawCapped(emu.couchUrl, 'GET', `/${state.db}`, undefined, { Authorization: `Basic ${Buffer.from('nobody:nope').toString('base64')}` });
    expect({ status: r.status, body: r.body }).toEqual({ status: 401, body: { error: 'unauthorized', reason: 'Name or password is incorrect.' } });
  });

  it('held: Basic credentials beside valid proxy headers → the proxy user (200)', async () => {
    const r = await send('GET', '/{db}', undefined, { Authorization: `Basic ${Buffer.from('nobody:nope').toString('base64')}` });
    expect(r.status).toBe(200);
  });

  it('/favicon.ico and /_utils/ → 404 text/plain "Not found."', async () => {
    for (const [path, cache] of [['/favicon.ico', 'public, max-age=31536000'], ['/_utils/', 'private, must-revalidate']]) {
      const r = await send('GET', path as string);
      expect({ path, status: r.status, type: String(r.headers['content-type']), cache: r.headers['cache-control'], text: r.text }).toEqual({ path, status: 404, type: 'text/plain', cache, text: 'Not found.' });
    }
  });

  it('PUT _security with members that is not an object → 500 no_majority, the stored object unchanged', async () => {
    const before = await send('GET', '/{db}/_security');
    for (const body of [{ members: 5 }, { admins: { names: [1] } }]) {
      const r = await send('PUT', '/{db}/_security', j(body), { 'Content-Type': 'application/json' });
      expect({ status: r.status, body: r.body }).toEqual({ status: 500, body: { error: 'error', reason: 'no_majority' } });
    }
    expect((await send('GET', '/{db}/_security')).body).toEqual(before.body);
  });
});
