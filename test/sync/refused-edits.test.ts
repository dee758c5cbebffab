/**
 * A refused document the user then edits or removes, and many refused documents at once. README (Sync): a refused
 * document "is reported once per revision with its key; the other writes go on, `pending()` counts only what the server
 * lacks, and the refused document is sent again with backoff (5 s up to 5 min)". Once the server has the document's
 * current value, nothing of it is refused any more: the status must leave `error`/`denied` and the resends stop.
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClient, type FeatError } from '@feat/sdk';
import { sleep, text, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { raw } from '../support/devices.js';
import { forbidGate, slowGate, type Gate } from '../support/refusal-gate.js';

/** The proxy's 1 MiB body limit (emulator default; nginx on the real stack). */
const emu = useEmulator();
const BIG = text(1_200_000);

function open(user: string, gate: Gate, extra: Record<string, unknown> = {}) {
  const c = emu.track(
    createFeatClient({
      couchUrl: emu.couchUrl,
      accountsUrl: emu.accountsUrl,
      auth: emu.bearerFor(user),
      local: { adapter: 'memory' },
      fetch: gate.fetch,
      requestTimeout: 15_000,
      maintenance: { enabled: false },
      ...extra,
    } as never),
  ) as FeatClient;
  const errors: FeatError[] = [];
  const statuses: string[] = [];
  c.sync.on('error', (e) => errors.push(e));
  c.sync.on('status', (s) => statuses.push(s));
  return { c, errors, statuses };
}

async function onServer(user: string, id: string): Promise<unknown> {
  const server = await raw(emu, user);
  const d = await server.doc(id);
  return d.status === 200 ? d.body.doc : undefined;
}

describe('a refused document edited while its resend is on its way', () => {
  // Failed before (both backends): the resend's late 413 puts the old revision back among the refused ones: a second
  // too_large for the same revision, and the status stays `error` (the old body resent, 413, every backoff) although the
  // server has the key's current value and pending() is 0.
  it('too large (maxRequestBytes 0, proxy 1 MiB): edited to a small value during the resend → the small value stored, status idle, resends stop', async () => {
    const user = uniqueUser('race');
    const gate = slowGate();
    const { c, errors, statuses } = open(user, gate, { maxRequestBytes: 0 });
    await c.ready();
    let edited: Promise<void> | undefined;
    gate.hold = async () => {
      // The first resend (after ~2.5–5 s): a slow uplink, the user edits meanwhile and that small write goes first.
      if (gate.refused !== 2 || edited) return;
      edited = (async () => {
        await c.store.set('k', 'small');
        await waitFor(async () => (await onServer(user, 'k')) === 'small', 20_000, 'the small value on the server');
      })();
      await edited.catch(() => undefined);
    };
    await c.store.set('k', BIG);
    await waitFor(() => errors.some((e) => e.code === 'too_large'), 30_000, 'the refusal');
    await waitFor(() => edited !== undefined, 30_000, 'the resend');
    await edited;
    await waitFor(async () => (await c.sync.pending()) === 0, 20_000, 'pending() 0');
    // Let any further resend (10 s backoff, jittered) happen.
    await sleep(13_000);
    const at = gate.log.length;
    await sleep(12_000);
    const later413 = gate.refused;
    const result = {
      server: await onServer(user, 'k'),
      pending: await c.sync.pending(),
      status: c.sync.status,
      tooLarge: errors.filter((e) => e.code === 'too_large').length,
      bigBodiesLast12s: gate.log.slice(at).filter((r) => r.bytes > 1_000_000).length,
    };
    console.log('statuses', statuses.join(' '), '413s', later413);
    expect(result).toEqual({ server: 'small', pending: 0, status: 'idle', tooLarge: 1, bigBodiesLast12s: 0 });
  }, 120_000);
});

// Both pass (emulator + real).
describe('a refused document the user fixes', () => {
  it('forbidden, then removed: the removal reaches the server, status idle, pending() 0', async () => {
    const user = uniqueUser('rm');
    const gate = forbidGate((id) => id === 'k');
    const { c, errors } = open(user, gate);
    await c.ready();
    await c.store.set('k', 'x');
    await waitFor(() => c.sync.status === 'denied', 20_000, 'denied');
    await c.store.remove('k');
    await waitFor(async () => (await raw(emu, user).then((s) => s.leaves('k'))).some((l) => l.deleted), 20_000, 'the removal on the server');
    await waitFor(async () => (await c.sync.pending()) === 0, 20_000, 'pending 0');
    await waitFor(() => c.sync.status === 'idle', 20_000, 'idle');
    await c.sync.waitForPush({ timeout: 10_000 });
    expect(errors.filter((e) => e.code === 'forbidden')).toHaveLength(1);
  }, 60_000);

  it('too large, then edited smaller: the small value on the server, no conflict left, status idle, pending() 0', async () => {
    const user = uniqueUser('sm');
    const gate = slowGate();
    const { c, errors } = open(user, gate, { maxRequestBytes: 0 });
    await c.ready();
    await c.store.set('k', BIG);
    await waitFor(() => errors.some((e) => e.code === 'too_large'), 30_000, 'too_large');
    await c.store.set('k', { small: true });
    await waitFor(async () => JSON.stringify(await onServer(user, 'k')) === '{"small":true}', 20_000, 'small on the server');
    await c.sync.waitForPush({ timeout: 15_000 });
    expect(await c.sync.pending()).toBe(0);
    await waitFor(() => c.sync.status === 'idle', 20_000, 'idle');
    const server = await raw(emu, user);
    expect((await server.leaves('k')).filter((l) => !l.deleted)).toHaveLength(1);
    expect(errors.filter((e) => e.code === 'too_large')).toHaveLength(1);
  }, 60_000);
});

describe('100 refused documents at once', () => {
  // Resends of the 100 go together, 5 s → 10 s → 20 s.
  it('forbidden ×100 (parts): each reported once, others go, bounded resends (no storm); all go once lifted', async () => {
    const user = uniqueUser('many');
    const gate = forbidGate((id) => id.startsWith('bad:'));
    const { c, errors } = open(user, gate);
    await c.ready();
    const t0 = Date.now();
    await c.store.setParts('bad', Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`p${i}`, i])));
    await c.store.set('good', 1);
    await waitFor(async () => (await onServer(user, 'good')) === 1, 20_000, 'good on the server');
    await waitFor(() => errors.filter((e) => e.code === 'forbidden').length >= 100, 20_000, '100 refusals');
    await sleep(25_000);
    const window = gate.log.filter((r) => r.t >= t0);
    const perSecond = new Map<number, number>();
    for (const r of window) perSecond.set(Math.floor((r.t - t0) / 1000), (perSecond.get(Math.floor((r.t - t0) / 1000)) ?? 0) + 1);
    const bulks = window.filter((r) => r.method === 'POST' && r.path.startsWith('/_bulk_docs')).length;
    // The first push of the 100 writes is not what is measured (it may take one request per write); the resends are.
    const resends = window.filter((r) => r.t - t0 > 3_000 && r.method === 'POST' && r.path.startsWith('/_bulk_docs')).length;
    console.log('requests', window.length, 'bulks', bulks, 'resend bulks', resends, 'per second', JSON.stringify([...perSecond]));
    expect({
      forbidden: errors.filter((e) => e.code === 'forbidden').length,
      status: c.sync.status,
      pending: await c.sync.pending(),
    }).toEqual({ forbidden: 100, status: 'denied', pending: 100 });
    expect(resends).toBeLessThan(6);
    gate.on = false;
    await c.sync.waitForPush({ timeout: 60_000 });
    expect(Object.keys(await (async () => {
      const server = await raw(emu, user);
      const r = await fetch(`${server.url}/_all_docs?startkey=%22bad%3A%22&endkey=%22bad%3A%EF%BF%BF%22`, { headers: server.headers });
      return Object.fromEntries(((await r.json()) as { rows: { id: string }[] }).rows.map((row) => [row.id, 1]));
    })())).toHaveLength(100);
    await waitFor(() => c.sync.status === 'idle', 20_000, 'idle');
  }, 150_000);
});
