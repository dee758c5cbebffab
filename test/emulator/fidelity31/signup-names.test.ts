/**
 * Sign-up of names the deployment's nginx cannot carry: its `@newuser` location puts the header user name unescaped
 * into the proxied URL (`/_users/org.couchdb.user:$name`) and into the JSON body it builds. Every assertion states the
 * real stack's answer; no database may appear.
 */
import { describe, expect, it } from 'vitest';
import { uniqueUser, useEmulator } from '../../support/backend.js';
import { rawCapped } from '../raw-deadline.js';

const emu = useEmulator({ profile: 'couchdb' });

async function signUp(name: string, path = '/_users/create-new-user', method = 'POST') {
  const h = emu.couchHeadersFor(name) as unknown as Record<string, string>;
  const r = await rawCapped(emu.couchUrl, method, path, undefined, h, 12_000).catch(() => ({ status: -1, body: 'no answer', cut: true }));
  await new Promise((res) => setTimeout(res, 300));
  const db = await rawCapped(emu.couchUrl, 'GET', `/userdb-${Buffer.from(name).toString('hex')}`, undefined, h, 8000);
  return { status: r.cut ? -1 : r.status, body: r.body, db: db.status };
}

describe('POST /_users/create-new-user with a name nginx cannot carry', () => {
  it('a double quote → 400 invalid UTF-8 JSON (the body nginx built is not JSON), no database', async () => {
    expect(await signUp(`${uniqueUser('f31q')}q"q`)).toEqual({ status: 400, body: { error: 'bad_request', reason: 'invalid UTF-8 JSON' }, db: 404 });
  });

  it.each(['b\\b', 'p?x=1', 'h#x', 'pc%41', 'pl+us'])('%s → 403 "Doc ID must be of the form org.couchdb.user:name", no database', async (suffix) => {
    expect(await signUp(`${uniqueUser('f31n')}${suffix}`)).toEqual({ status: 403, body: { error: 'forbidden', reason: 'Doc ID must be of the form org.couchdb.user:name' }, db: 404 });
  });

  it('a slash → 403 "doc.type must be user" (the rest of the name became an attachment), no database', async () => {
    expect(await signUp(`${uniqueUser('f31s')}s/t`)).toEqual({ status: 403, body: { error: 'forbidden', reason: 'doc.type must be user' }, db: 404 });
  });

  it('a space → no answer within 12 s on the real stack (the emulator: nginx 504 at once), no database', async () => {
    const r = await signUp(`${uniqueUser('f31sp')}sp ace`);
    expect(r.status === -1 || r.status === 504, JSON.stringify(r)).toBe(true);
    expect(r.db).toBe(404);
  }, 30_000);

  it('the same names through PUT /_users/org.couchdb.user:<name> (the other @newuser rule): same answers', async () => {
    const name = `${uniqueUser('f31p')}p?x=1`;
    expect(await signUp(name, `/_users/org.couchdb.user:${encodeURIComponent(name)}`, 'PUT')).toEqual({ status: 403, body: { error: 'forbidden', reason: 'Doc ID must be of the form org.couchdb.user:name' }, db: 404 });
  });

  it('held: ; and $ in a name → 201 and the database appears', async () => {
    for (const suffix of ['semi;colon', 'dollar$x']) {
      const name = `${uniqueUser('f31ok')}${suffix}`;
      const first = await signUp(name);
      expect(first.status).toBe(201);
      let db = first.db;
      for (let i = 0; i < 30 && db !== 200; i++) {
        await new Promise((res) => setTimeout(res, 100));
        db = (await rawCapped(emu.couchUrl, 'GET', `/userdb-${Buffer.from(name).toString('hex')}`, undefined, emu.couchHeadersFor(name) as unknown as Record<string, string>, 8000)).status;
      }
      expect(db).toBe(200);
    }
  });
});
