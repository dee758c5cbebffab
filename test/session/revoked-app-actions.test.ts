/**
 * The session dying during sync: what the app does while the session is dying (mashing resume()/ready(), closing a memory replica),
 * an offline device whose session was revoked meanwhile, and several devices of one user meeting one rotation.
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClient, type FeatError } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { couchCounter, useAccountsFront, type AccountsFront } from '../support/accounts-front.js';

const emu = useEmulator();
let front: AccountsFront;
useAccountsFront(emu, (f) => (front = f));

let gen = 0;
function dev(user: string, tag: string) {
  const session = { v: '' };
  const login = () => {
    session.v = `${tag}-${++gen}-${user}-${'y'.repeat(32)}`;
    front.sessions.set(session.v, user);
  };
  login();
  const couch = couchCounter();
  const c: FeatClient = emu.track(
    createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: front.url, auth: () => `Bearer ${session.v}`, local: { adapter: 'memory' }, maintenance: { enabled: false }, requestTimeout: 5_000, fetch: couch.fetch }),
  );
  const errors: FeatError[] = [];
  c.sync.on('error', (e) => errors.push(e));
  return { c, errors, couch, session, login, tag, revoke: () => void front.sessions.delete(session.v), tokens: (since = 0) => front.count(`${tag}-`, since) };
}

async function pair(tag: string) {
  const user = uniqueUser(tag);
  const a = dev(user, `A${tag}`);
  const b = dev(user, `B${tag}`);
  await a.c.ready();
  await b.c.ready();
  return { user, a, b };
}

describe('the app acting while the session is refused', () => {
  it('pause()/resume() mashed 20 times while revoked: no token request per resume (backoff holds)', async () => {
    const { a } = await pair('mash');
    a.revoke();
    emu.rotateSecret();
    await a.c.store.set('k', 1);
    await waitFor(() => a.c.sync.status === 'denied', 15_000, 'denied');
    const t0 = Date.now();
    for (let i = 0; i < 20; i++) {
      a.c.sync.pause();
      a.c.sync.resume();
      await sleep(100);
    }
    await sleep(1_000);
    const n = a.tokens(t0);
    expect(n).toBeLessThanOrEqual(4);
    expect(a.couch.status(401, t0)).toBeLessThanOrEqual(6);
  });

  // README sync status table: "refused credentials are reported once per episode".
  it('pause()/resume() 20 times while revoked: the refusal is not re-reported as an error event per resume', async () => {
    const { a } = await pair('mashev');
    a.revoke();
    emu.rotateSecret();
    await a.c.store.set('k', 1);
    await waitFor(() => a.c.sync.status === 'denied', 15_000, 'denied');
    await sleep(300);
    const e0 = a.errors.length;
    expect(e0).toBe(1);
    for (let i = 0; i < 20; i++) {
      a.c.sync.pause();
      a.c.sync.resume();
      await sleep(100);
    }
    await sleep(1_000);
    expect(a.errors.slice(e0).map((e) => e.code)).toEqual([]);
  });

  it('ready() called 20 times while revoked (after a successful start): bounded token requests, each settles', async () => {
    const { a } = await pair('readym');
    a.revoke();
    emu.rotateSecret();
    await a.c.store.set('k', 1);
    await waitFor(() => a.c.sync.status === 'denied', 15_000, 'denied');
    const t0 = Date.now();
    const results = await Promise.all(Array.from({ length: 20 }, () => a.c.ready().then(() => 'ok', (e: FeatError) => e.code)));
    expect(results).toHaveLength(20);
    await sleep(500);
    expect(a.tokens(t0)).toBeLessThanOrEqual(2);
  });
});

describe('close() of a memory replica right after the session changed', () => {
  it('rotation then close(): the last writes are pushed (one refresh) and reach B', async () => {
    const { a, b } = await pair('close');
    for (let i = 0; i < 10; i++) void a.c.store.set(`c${i}`, i);
    emu.rotateSecret();
    await a.c.close();
    await waitFor(async () => (await b.c.store.keys('c')).length === 10, 20_000, 'B has c0..c9');
  });

  it('revocation then close(): settles within 5 s + bound, the dropped writes named in one error event with a code', async () => {
    const { a } = await pair('closerev');
    a.revoke();
    emu.rotateSecret();
    for (let i = 0; i < 5; i++) void a.c.store.set(`d${i}`, i);
    const t = Date.now();
    await a.c.close().catch(() => undefined);
    const took = Date.now() - t;
    expect(took).toBeLessThan(2 * 5_000 + 1_000 + 5_000);
    // The discarded writes are told with why they did not go: the refusal, not `network`.
    const discarded = a.errors.filter((e) => /close\(\) discarded/.test(e.message));
    expect(discarded.map((e) => e.code)).toEqual(['unauthorized']);
  });
});

describe('offline across a revocation', () => {
  it('offline, session revoked meanwhile, back online: denied with one unauthorized event; re-login pushes every offline write', async () => {
    const { a, b } = await pair('offrev');
    a.couch.offline = true;
    await sleep(300);
    for (let i = 0; i < 10; i++) await a.c.store.set(`o${i}`, i);
    a.revoke();
    emu.rotateSecret();
    await sleep(1_500);
    const before = a.errors.length;
    a.couch.offline = false;
    await waitFor(() => a.c.sync.status === 'denied', 30_000, 'denied after coming back');
    await sleep(1_000);
    const newCodes = a.errors.slice(before).map((e) => e.code);
    expect(newCodes.filter((c) => c === 'unauthorized').length).toBe(1);
    a.login();
    await waitFor(async () => (await b.c.store.keys('o')).length === 10, 40_000, 'B has o*');
  }, 60_000);
});

describe('several devices of one user', () => {
  it('5 devices syncing, one rotation while each writes: one token request each, everything everywhere', async () => {
    const user = uniqueUser('five');
    const ds = Array.from({ length: 5 }, (_, i) => dev(user, `F${i}x${gen}`));
    await Promise.all(ds.map((d) => d.c.ready()));
    const t0 = Date.now();
    const writes = ds.map(async (d, i) => {
      for (let j = 0; j < 10; j++) {
        await d.c.store.set(`m${i}-${j}`, j);
        if (i === 0 && j === 3) emu.rotateSecret();
        await sleep(60);
      }
    });
    await Promise.all(writes);
    await Promise.all(ds.map((d) => waitFor(async () => (await d.c.store.keys('m')).length === 50, 30_000, `${d.tag} has 50`)));
    const perDevice = ds.map((d) => d.tokens(t0));
    for (const n of perDevice) expect(n).toBeLessThanOrEqual(1);
  }, 60_000);
});
