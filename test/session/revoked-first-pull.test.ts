/**
 * The session dying during sync: the session dying during a new device's first pull (ready() waits for it), and during a chunked
 * value's upload.
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClient, type FeatError } from '@feat/sdk';
import { sleep, text, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { couchCounter, useAccountsFront, type AccountsFront } from '../support/accounts-front.js';

const emu = useEmulator();
let front: AccountsFront;
useAccountsFront(emu, (f) => (front = f));

function dev(user: string, bearer: { v: string }, extra: Record<string, unknown> = {}) {
  const couch = couchCounter();
  const c: FeatClient = emu.track(
    createFeatClient({
      couchUrl: emu.couchUrl,
      accountsUrl: front.url,
      auth: () => `Bearer ${bearer.v}`,
      local: { adapter: 'memory' },
      maintenance: { enabled: false },
      requestTimeout: 5_000,
      fetch: couch.fetch,
      ...extra,
    } as never),
  );
  const errors: FeatError[] = [];
  c.sync.on('error', (e) => errors.push(e));
  return { c, errors, couch };
}

async function seeded(tag: string, n: number) {
  const user = uniqueUser(tag);
  const ab = { v: `a-${user}-${'y'.repeat(32)}` };
  front.sessions.set(ab.v, user);
  const a = dev(user, ab);
  await a.c.ready();
  for (let i = 0; i < n; i += 50) await Promise.all(Array.from({ length: Math.min(50, n - i) }, (_, j) => a.c.store.set(`d${i + j}`, { i: i + j, pad: 'p'.repeat(200) })));
  await a.c.sync.waitForPush({ timeout: 30_000 });
  return { user, a };
}

describe("a new device's first pull", () => {
  it('secret rotated while B pulls 1500 documents in ready(): ready() resolves with everything, one refresh', async () => {
    const { user } = await seeded('fp', 1500);
    const bb = { v: `b-${user}-${'y'.repeat(32)}` };
    front.sessions.set(bb.v, user);
    const b = dev(user, bb, { initialSyncTimeout: 30_000 });
    const events: string[] = [];
    b.c.sync.on('initialSync', (e) => {
      events.push(`${e.phase}:${e.docs}${e.phase === 'done' ? `:${e.complete}` : ''}`);
      if (e.phase === 'progress' && events.filter((x) => x.startsWith('progress')).length === 1) emu.rotateSecret();
    });
    const t0 = Date.now();
    await b.c.ready();
    const keys = await b.c.store.keys('d');
    expect(keys.length).toBe(1500);
    expect(front.count(`b-${user}`, t0)).toBeLessThanOrEqual(2);
  }, 90_000);

  it('session revoked while B pulls in ready(): ready() settles at once with a typed refusal; re-login → ready() again gets everything', async () => {
    const { user } = await seeded('fprev', 1500);
    const bb = { v: `b-${user}-${'y'.repeat(32)}` };
    front.sessions.set(bb.v, user);
    const b = dev(user, bb, { initialSyncTimeout: 30_000 });
    let revokedAt = 0;
    b.c.sync.on('initialSync', (e) => {
      if (e.phase === 'progress' && !revokedAt) {
        revokedAt = Date.now();
        front.sessions.delete(bb.v);
        emu.rotateSecret();
      }
    });
    const out = await b.c.ready().then(
      (s) => `resolved ${s.userName}`,
      (e: FeatError) => `rejected ${e.code}`,
    );
    const took = Date.now() - revokedAt;
    expect(out).toBe(`resolved ${user}`);
    // "a refusal (401/403 after the session's own handling, 404) … ends the wait at once"
    expect(took).toBeLessThan(5_000);
    expect(b.c.sync.status).toBe('denied');
    // README: "refused credentials are reported once per episode".
    expect(b.errors.filter((e) => e.code === 'unauthorized').length).toBe(1);
    bb.v = `b2-${user}-${'y'.repeat(32)}`;
    front.sessions.set(bb.v, user);
    await b.c.ready();
    await waitFor(async () => (await b.c.store.keys('d')).length === 1500, 30_000, 'B has all after re-login');
  }, 90_000);
});

describe('a chunked value pushed across a rotation', () => {
  it('a 400 kB value (maxDocumentBytes 60 kB → chunks) while the secret rotates twice: B reads it whole', async () => {
    const user = uniqueUser('chunk');
    const ab = { v: `a-${user}-${'y'.repeat(32)}` };
    const bb = { v: `b-${user}-${'y'.repeat(32)}` };
    front.sessions.set(ab.v, user);
    front.sessions.set(bb.v, user);
    const a = dev(user, ab, { maxDocumentBytes: 60_000, maxRequestBytes: 70_000 });
    const b = dev(user, bb, { maxDocumentBytes: 60_000, maxRequestBytes: 70_000 });
    await a.c.ready();
    await b.c.ready();
    const big = text(400_000, 7);
    await a.c.store.set('big', big);
    await sleep(30);
    emu.rotateSecret();
    await a.c.store.set('big2', text(300_000, 9));
    await sleep(60);
    emu.rotateSecret();
    await a.c.sync.waitForPush({ timeout: 30_000 });
    await waitFor(async () => (await b.c.store.get('big2')) !== undefined && (await b.c.store.get('big')) !== undefined, 30_000, 'B has both');
    expect(await b.c.store.get('big')).toBe(big);
    expect(await b.c.store.get('big2')).toBe(text(300_000, 9));
  }, 90_000);
});
