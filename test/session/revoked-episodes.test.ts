/**
 * The session dying during sync: refusal episodes, a hung token service and the pulling device losing its session.
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, isFeatError, type FeatClient, type FeatError } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { couchCounter, useAccountsFront, type AccountsFront } from '../support/accounts-front.js';

const emu = useEmulator();
let front: AccountsFront;
useAccountsFront(emu, (f) => (front = f));

type Dev = { c: FeatClient; errors: FeatError[]; statuses: string[]; couch: ReturnType<typeof couchCounter>; session: { bearer: string }; tag: string; login(): string; revoke(): void };

let gen = 0;
function dev(user: string, tag: string): Dev {
  const session = { bearer: '' };
  const login = () => {
    session.bearer = `sess-${tag}-${++gen}-${'x'.repeat(32)}`;
    front.sessions.set(session.bearer, user);
    return session.bearer;
  };
  login();
  const couch = couchCounter();
  const c = emu.track(
    createFeatClient({
      couchUrl: emu.couchUrl,
      accountsUrl: front.url,
      auth: () => `Bearer ${session.bearer}`,
      local: { adapter: 'memory' },
      maintenance: { enabled: false },
      requestTimeout: 5_000,
      fetch: couch.fetch,
    }),
  );
  const errors: FeatError[] = [];
  const statuses: string[] = [];
  c.sync.on('error', (e) => errors.push(e));
  c.sync.on('status', (s) => statuses.push(s));
  return { c, errors, statuses, couch, session, tag, login, revoke: () => void front.sessions.delete(session.bearer) };
}
const tokens = (d: Dev, since = 0) => front.count(`sess-${d.tag}-`, since);
const codes = (d: Dev) => d.errors.map((e) => e.code);

async function pair(tag: string) {
  const user = uniqueUser(tag);
  const a = dev(user, `A${tag}${gen}`);
  const b = dev(user, `B${tag}${gen}`);
  await a.c.ready();
  await a.c.store.set('seed', 1);
  await a.c.sync.waitForPush({ timeout: 15_000 });
  await b.c.ready();
  await waitFor(async () => (await b.c.store.get('seed')) === 1, 15_000, 'B seed');
  return { user, a, b };
}

describe('refusal episodes', () => {
  it('a second revocation after a re-login is a new episode: reported again (unauthorized), and recovered again', async () => {
    const { a, b } = await pair('ep');
    for (let round = 1; round <= 2; round++) {
      a.revoke();
      emu.rotateSecret();
      await a.c.store.set(`e${round}`, round);
      await waitFor(() => a.c.sync.status === 'denied', 15_000, `A denied, round ${round}`);
      await sleep(500);
      const n = codes(a).filter((c) => c === 'unauthorized').length;
      expect(n).toBe(round);
      a.login();
      await waitFor(async () => (await b.c.store.get(`e${round}`)) === round, 30_000, `B e${round}`);
      await waitFor(() => a.c.sync.status === 'idle', 15_000, 'A idle');
    }
  }, 90_000);

  // README (initialSync/waitForPush paragraph): refused credentials → waitForPush() rejects with the refusal at once.
  it('waitForPush() while the session is revoked ends with a typed refusal, not only at its timeout', async () => {
    const { a } = await pair('wfp');
    a.revoke();
    emu.rotateSecret();
    await a.c.store.set('p', 1);
    await waitFor(() => a.c.sync.status === 'denied', 15_000, 'A denied');
    const t = Date.now();
    const out = await a.c.sync.waitForPush({ timeout: 10_000 }).then(
      () => 'resolved',
      (e: FeatError) => e,
    );
    const took = Date.now() - t;
    expect(isFeatError(out)).toBe(true);
    expect((out as FeatError).code).toBe('unauthorized');
    expect(took).toBeLessThan(8_000);
    a.login();
    await a.c.sync.waitForPush({ timeout: 30_000 });
  }, 60_000);
});

describe('the token service hangs during live sync', () => {
  it('hung token requests (8 s) after a rotation: status says so with a code, token requests bounded, no socket pile-up; then recovery with nothing lost', async () => {
    const { a, b } = await pair('hang');
    const t0 = Date.now();
    front.mode = { kind: 'hang' };
    emu.rotateSecret();
    for (let i = 0; i < 20; i++) {
      await a.c.store.set(`h${i}`, i);
      await sleep(400);
    }
    const during = { tokensA: tokens(a, t0), tokensB: tokens(b, t0), codesA: codes(a), statusA: a.c.sync.status, statusesA: [...new Set(a.statuses)] };
    front.mode = { kind: 'pass' };
    expect(during.codesA.length).toBeGreaterThan(0);
    expect(during.codesA).toContain('timeout');
    expect(['error', 'offline']).toContain(during.statusA);
    expect(during.tokensA).toBeLessThanOrEqual(6);
    await waitFor(async () => (await b.c.store.keys('h')).length === 20, 45_000, 'B has h0..h19');
  }, 90_000);
});

describe('the pulling device loses its session', () => {
  it('B revoked while A writes: B denied (one unauthorized), A unaffected; B re-login → B gets every write, by itself', async () => {
    const { a, b } = await pair('pullrev');
    const t0 = Date.now();
    b.revoke();
    emu.rotateSecret();
    // B's continuous stream may stay open (authenticated when it started). Force B to need the server: its own write.
    await b.c.store.set('fromB', 'b');
    for (let i = 0; i < 20; i++) {
      await a.c.store.set(`q${i}`, i);
      await sleep(150);
    }
    await a.c.sync.waitForPush({ timeout: 15_000 });
    await sleep(1_000);
    const during = { statusB: b.c.sync.status, codesB: codes(b), codesA: codes(a), tokensB: tokens(b, t0), bHas: (await b.c.store.keys('q')).length };
    expect(during.statusB).toBe('denied');
    expect(during.codesB.filter((c) => c === 'unauthorized').length).toBe(1);
    expect(during.codesA).toEqual([]);
    b.login();
    await waitFor(async () => (await b.c.store.keys('q')).length === 20, 40_000, 'B has q*');
    await waitFor(async () => (await a.c.store.get('fromB')) === 'b', 40_000, 'A has fromB');
  }, 90_000);
});
