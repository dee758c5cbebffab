/** Accounts service: bearer → proxy-auth headers + dbname; 401s; secret rotation. */
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { proxyToken, proxyTokenSha256, startEmulator, userDbName } from '@feat/emulator';
import type { Emulator } from '@feat/emulator';
import { call, couch, signUp } from './helpers.js';

const SECRET = '609e42e49def19dcb2428027d95b9db7';
let emu: Emulator;

beforeAll(async () => {
  emu = await startEmulator({ secret: SECRET });
});
afterAll(async () => {
  await emu.stop();
});

const token = (authorization?: string) =>
  call(`${emu.accountsUrl}/couchdb/token/`, authorization === undefined ? {} : { headers: { Authorization: authorization } });

describe('helpers', () => {
  it('proxyToken is the lowercase hex HMAC-SHA1 of the name keyed with the secret', () => {
    const expected = createHmac('sha1', SECRET).update('4222704093994').digest('hex');
    expect(proxyToken(SECRET, '4222704093994')).toBe(expected);
    expect(proxyTokenSha256(SECRET, 'x')).toBe(createHmac('sha256', SECRET).update('x').digest('hex'));
  });

  it("userDbName hex-encodes each UTF-8 byte without zero padding (CouchDB's quirk)", () => {
    expect(userDbName('4222704093994')).toBe('userdb-34323232373034303933393934'); // the seed's example
    expect(userDbName('中')).toBe('userdb-e4b8ad');
    expect(userDbName('a\nb')).toBe('userdb-61a62'); // 0x0a → "a", not "0a"
  });
});

describe('GET /couchdb/token/', () => {
  it("returns the seed's shape for bearerFor(name)", async () => {
    const reply = await token(emu.bearerFor('4222704093994'));
    expect(reply.status).toBe(200);
    expect(reply.headers.get('content-type')).toMatch(/application\/json/);
    expect(reply.json).toEqual({
      data: {
        headers: { 'X-Auth-CouchDB-UserName': '4222704093994', 'X-Auth-CouchDB-Token': proxyToken(SECRET, '4222704093994') },
        dbname: 'userdb-34323232373034303933393934',
      },
    });
  });

  it('bearerFor returns a full Authorization value; the bare token and a doubled scheme are accepted too', async () => {
    const bearer = emu.bearerFor('alice');
    expect(bearer).toMatch(/^Bearer \S+$/);
    const bare = bearer.slice('Bearer '.length);
    for (const value of [bearer, bare, `Bearer ${bearer}`, `bearer ${bare}`]) {
      const reply = await token(value);
      expect(reply.status, value).toBe(200);
      expect((reply.json as { data: { headers: Record<string, string> } }).data.headers['X-Auth-CouchDB-UserName']).toBe('alice');
    }
  });

  it('works for non-ASCII names', async () => {
    const reply = await token(emu.bearerFor('张三'));
    expect((reply.json as { data: { dbname: string } }).data.dbname).toBe('userdb-e5bca0e4b889');
  });

  it('401 without a bearer, with an unknown one, or with a tampered one', async () => {
    const missing = await token();
    expect(missing.status).toBe(401);
    expect(missing.json).toEqual({ detail: 'Authentication credentials were not provided.' });
    const bare = emu.bearerFor('alice').slice('Bearer '.length);
    const tampered = `${bare.slice(0, -1)}${bare.endsWith('0') ? '1' : '0'}`;
    const otherName = bare.replace(Buffer.from('alice').toString('base64url'), Buffer.from('mallory').toString('base64url'));
    for (const value of ['Bearer qAg3jdtuCUB4dWuc8d5pD81PnpCqUX', `Bearer ${tampered}`, `Bearer ${otherName}`, 'Basic YTpi', '']) {
      const reply = await token(value);
      expect(reply.status, value).toBe(401);
      expect(reply.json).toHaveProperty('detail');
    }
  });

  it('a bearer from an emulator with another secret is refused; one with the same secret is accepted', async () => {
    const other = await startEmulator();
    const same = await startEmulator({ secret: SECRET });
    try {
      expect((await token(other.bearerFor('alice'))).status).toBe(401);
      expect((await token(same.bearerFor('alice'))).status).toBe(200);
    } finally {
      await Promise.all([other.stop(), same.stop()]);
    }
  });

  it('other paths → 404, other methods → 405', async () => {
    expect((await call(`${emu.accountsUrl}/couchdb/nope/`)).status).toBe(404);
    const post = await call(`${emu.accountsUrl}/couchdb/token/`, { method: 'POST', headers: { Authorization: emu.bearerFor('a') } });
    expect(post.status).toBe(405);
  });
});

describe('rotateSecret()', () => {
  it('invalidates every earlier proxy token; the endpoint then issues new ones; bearers survive', async () => {
    const emu2 = await startEmulator({ peruserDelayMs: 0 });
    try {
      const before = emu2.secret;
      await signUp(emu2, 'rot');
      const old = ((await token2(emu2)).json as { data: { headers: Record<string, string>; dbname: string } }).data;
      expect((await call(`${emu2.couchUrl}/${old.dbname}`, { headers: old.headers })).status).toBe(200);

      const after = emu2.rotateSecret();
      expect(after).not.toBe(before);
      expect(emu2.secret).toBe(after);
      const stale = await call(`${emu2.couchUrl}/${old.dbname}`, { headers: old.headers });
      expect(stale.status).toBe(401);
      expect(stale.json).toEqual({ error: 'unauthorized', reason: 'Authentication required.' });

      const fresh = ((await token2(emu2)).json as { data: { headers: Record<string, string> } }).data;
      expect(fresh.headers['X-Auth-CouchDB-Token']).toBe(proxyToken(after, 'rot'));
      expect((await couch(emu2, 'rot', `/${old.dbname}`)).status).toBe(200);
    } finally {
      await emu2.stop();
    }
  });
});

function token2(e: Emulator) {
  return call(`${e.accountsUrl}/couchdb/token/`, { headers: { Authorization: e.bearerFor('rot') } });
}
