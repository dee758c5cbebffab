/**
 * What the device keeps (issue #23): nothing the SDK stores lets anyone test a credential offline, yet the same
 * credentials reopen the replica offline and another user never gets it.
 *
 * HTTP Basic credentials with a 6-digit PIN as the password, translated by the app's `fetch` into the emulator's
 * bearer (the emulator's accounts service only knows bearers), and a `leveldb` replica whose every file is searched.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { uniqueUser, useEmulator, waitFor } from '../support/backend.js';

const emu = useEmulator();
const PIN = '730519';

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** The app's fetch: the accounts service accepts `user:PIN` (and `short-<user>` bearers), as the emulator's bearer. */
function accountsFetch(pins: Map<string, string>): typeof fetch {
  return (input, init) => {
    const request = new Request(input, init);
    const auth = request.headers.get('authorization') ?? '';
    if (request.url.startsWith(emu.accountsUrl) && auth) {
      let user: string | undefined;
      const [scheme, value = ''] = auth.split(' ');
      if (scheme === 'Basic') {
        const [name, password] = Buffer.from(value, 'base64').toString().split(':');
        if (name && pins.get(name) === password) user = name;
      } else if (value.startsWith('short-')) user = value.slice('short-'.length);
      const headers = new Headers(request.headers);
      headers.set('authorization', user ? emu.bearerFor(user) : 'Bearer wrong');
      return fetch(new Request(request, { headers }));
    }
    return fetch(request);
  };
}

/** Every file under `dir`, each byte as one character (latin1), so byte sequences can be searched as text. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...filesUnder(path));
    else out.push(readFileSync(path, 'latin1'));
  }
  return out;
}

/** The credential, its parts, and their common digests (hex, base64, base64url, raw; whole and truncated). */
function needles(user: string, password: string): { label: string; bytes: string }[] {
  const authorization = basic(user, password);
  const secrets = {
    authorization,
    'base64 credentials': authorization.slice('Basic '.length),
    'user:password': `${user}:${password}`,
    password,
  };
  const out: { label: string; bytes: string }[] = [];
  for (const [what, secret] of Object.entries(secrets)) {
    out.push({ label: what, bytes: secret });
    for (const algorithm of ['md5', 'sha1', 'sha256', 'sha512']) {
      const raw = createHash(algorithm).update(secret).digest();
      for (const encoding of ['hex', 'base64', 'base64url'] as const) {
        const text = raw.toString(encoding);
        out.push({ label: `${algorithm} ${encoding} of ${what}`, bytes: text });
        out.push({ label: `${algorithm} ${encoding} prefix of ${what}`, bytes: text.slice(0, 12) });
      }
      out.push({ label: `raw ${algorithm} prefix of ${what}`, bytes: raw.subarray(0, 8).toString('latin1') });
    }
  }
  return out;
}

/** A Map-backed localStorage, so the test sees what the SDK would keep there in a browser. */
class MemoryStorage {
  map = new Map<string, string>();
  get length() {
    return this.map.size;
  }
  key(i: number) {
    return [...this.map.keys()][i] ?? null;
  }
  getItem(k: string) {
    return this.map.get(k) ?? null;
  }
  setItem(k: string, v: string) {
    this.map.set(k, String(v));
  }
  removeItem(k: string) {
    this.map.delete(k);
  }
  clear() {
    this.map.clear();
  }
}

describe('no credential verifier on the device', () => {
  let dir: string;
  let storage: MemoryStorage;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'feat-at-rest-'));
    storage = new MemoryStorage();
    (globalThis as { localStorage?: unknown }).localStorage = storage;
  });
  afterEach(() => {
    delete (globalThis as { localStorage?: unknown }).localStorage;
    rmSync(dir, { recursive: true, force: true });
  });

  const client = (auth: string, pins: Map<string, string>, extra: Partial<FeatClientOptions> = {}): FeatClient =>
    emu.track(
      createFeatClient({
        couchUrl: emu.couchUrl,
        accountsUrl: emu.accountsUrl,
        auth,
        fetch: accountsFetch(pins),
        local: { adapter: 'leveldb', name: join(dir, 'replica') },
        ...extra,
      }),
    );

  it('nothing stored holds the credential or a digest of it; the same user reopens offline, another user never does', async () => {
    const alice = uniqueUser('pin');
    const bob = uniqueUser('pin');
    const pins = new Map([
      [alice, PIN],
      [bob, '111111'],
    ]);
    // What an older version left in localStorage (an unsalted digest of the Authorization value) is removed.
    storage.setItem(`feat:last-session:${emu.couchUrl}:0123456789abcdef01234567`, '{"userName":"x","dbName":"y"}');
    const first = client(basic(alice, PIN), pins);
    await first.ready();
    await first.store.set('note', 'private to alice');
    await first.sync.waitForPush({ timeout: 10_000 });
    await first.close();
    expect([...storage.map.keys()]).toEqual([]);

    const stored = filesUnder(dir);
    expect(stored.length).toBeGreaterThan(0);
    expect(stored.some((file) => file.includes('private to alice'))).toBe(true);
    const found = needles(alice, PIN).filter((n) => stored.some((file) => file.includes(n.bytes)));
    expect(found.map((n) => n.label)).toEqual([]);

    await emu.suspend();
    try {
      // Bob's credentials, the same replica path, no network: not his.
      const asBob = client(basic(bob, '111111'), pins);
      await expect(asBob.ready()).rejects.toMatchObject({ code: 'network' });
      await asBob.close();
      // Alice, offline: her replica opens from what the device remembers under her user name.
      const again = client(basic(alice, PIN), pins);
      await expect(again.ready()).resolves.toMatchObject({ userName: alice });
      expect(await again.store.get('note')).toBe('private to alice');
      await again.close();
      // Offline, the password is not checked at all — there is nothing to check it against. A wrong PIN finds the
      // same replica (whose files anyone with the device can read anyway), and is refused once the server is back.
      const guessed = client(basic(alice, '000000'), pins);
      await expect(guessed.ready()).resolves.toMatchObject({ userName: alice });
      const statuses: string[] = [];
      guessed.sync.on('status', (s) => statuses.push(s));
      guessed.sync.on('error', () => undefined);
      await emu.resume();
      await waitFor(() => statuses.includes('denied'), 15_000, 'the wrong PIN to be refused by the server');
      await guessed.close();
    } finally {
      if (emu.suspended) await emu.resume();
    }
  }, 60_000);

  it('a short bearer token is never digested: no offline start without local.identity; with it, one', async () => {
    const pins = new Map<string, string>();
    const shortUser = `s${Date.now().toString(36).slice(-6)}`;
    const bearer = `Bearer short-${shortUser}`;
    expect(bearer.length - 'Bearer '.length).toBeLessThan(32);

    const first = client(bearer, pins);
    await first.ready();
    await first.store.set('k', 1);
    await first.sync.waitForPush({ timeout: 10_000 });
    await first.close();
    const stored = filesUnder(dir);
    const digests = ['sha256', 'sha1', 'md5'].flatMap((a) => [bearer, bearer.slice(7)].map((s) => createHash(a).update(s).digest('hex').slice(0, 12)));
    expect(digests.filter((d) => stored.some((f) => f.includes(d)))).toEqual([]);
    expect(stored.some((f) => f.includes(bearer.slice(7)))).toBe(false);

    await emu.suspend();
    try {
      const offline = client(bearer, pins);
      await expect(offline.ready()).rejects.toMatchObject({ code: 'network' });
      await offline.close();
    } finally {
      await emu.resume();
    }
    // With the identity the app knows, the session is remembered and an offline start works.
    const named = client(bearer, pins, { local: { adapter: 'leveldb', name: join(dir, 'replica'), identity: shortUser } });
    await named.ready();
    await named.close();
    await emu.suspend();
    try {
      const offline = client(bearer, pins, { local: { adapter: 'leveldb', name: join(dir, 'replica'), identity: shortUser } });
      await expect(offline.ready()).resolves.toMatchObject({ userName: shortUser });
      expect(await offline.store.get('k')).toBe(1);
      await offline.close();
      // Another identity does not get it.
      const other = client(bearer, pins, { local: { adapter: 'leveldb', name: join(dir, 'replica'), identity: 'someone-else' } });
      await expect(other.ready()).rejects.toMatchObject({ code: 'network' });
      await other.close();
    } finally {
      await emu.resume();
    }
  }, 60_000);

  it('local.identity and local.persist are validated before any I/O', () => {
    const make = (local: unknown) => () =>
      createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: 'Bearer x', local: local as never });
    expect(make({ identity: '' })).toThrow(/local\.identity/);
    expect(make({ identity: 42 })).toThrow(/local\.identity/);
    expect(make({ persist: 'yes' })).toThrow(/local\.persist/);
  });
});
