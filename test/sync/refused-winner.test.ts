/**
 * A conflict resolved on a local-first device whose kept value the server refuses (too large for the proxy's body
 * limit with `maxRequestBytes: 0`, or `forbidden` by a rule): the resolution wrote, in one local write, the deletion
 * of the other device's leaf next to the kept winner, and the live push sent both at once — the winner was refused,
 * the deletion stored, and the key vanished from the server (and from every other device) while this device kept it.
 * Now a deletion waits until its document's live revision is stored: the server keeps the other device's value while
 * the winner is refused, and once the server takes the winner (the limit lifted, the rule gone) the deletion follows
 * in the same session and every device converges on the kept value.
 */
import { describe, expect, it } from 'vitest';
import type { FeatClientOptions } from '@feat/sdk';
import { sleep, text, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { device, raw, type Device } from '../support/devices.js';

/** The proxy's 1 MiB body limit, as the emulator (and nginx on the real stack) has it. */
const limited = useEmulator();
/** No limit at the server: the test's own `fetch` below models it, and lifts it. */
const unlimited = useEmulator({ maxRequestBytes: 0 });

const NGINX_LIMIT = 1_048_576;
const BIG = text(2_000_000);

/** Lets a test refuse what a proxy or a `validate_doc_update` would, per request, until `lift()`. */
function gate(refuse: 'too-large' | 'forbidden') {
  let on = true;
  let refused = 0;
  const fetchFn: typeof fetch = async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (!on || init?.method !== 'POST' || !/\/_bulk_docs(\?|$)/.test(url) || typeof init.body !== 'string') return fetch(input, init);
    if (refuse === 'too-large') {
      if (Buffer.byteLength(init.body) <= NGINX_LIMIT) return fetch(input, init);
      refused++;
      const page = '<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n<center><h1>413 Request Entity Too Large</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n';
      return new Response(page, { status: 413, headers: { 'Content-Type': 'text/html' } });
    }
    // A rule refusing every live revision of `k` (its deletions pass), as a validate_doc_update would.
    const body = JSON.parse(init.body) as { docs: { _id: string; _rev?: string; _deleted?: boolean }[] };
    const bad = body.docs.filter((d) => d._id === 'k' && !d._deleted);
    if (!bad.length) return fetch(input, init);
    refused++;
    const rest = body.docs.filter((d) => !bad.includes(d));
    const answer = rest.length ? ((await (await fetch(input, { ...init, body: JSON.stringify({ ...body, docs: rest }) })).json()) as unknown[]) : [];
    const denied = bad.map((d) => ({ id: d._id, rev: d._rev, error: 'forbidden', reason: 'read-only key' }));
    return new Response(JSON.stringify([...answer, ...denied]), { status: 201, headers: { 'Content-Type': 'application/json' } });
  };
  return {
    fetch: fetchFn,
    lift: () => (on = false),
    get refused() {
      return refused;
    },
  };
}

type Emu = typeof limited;

/**
 * B's small value on the server; A (offline) writes `k` twice, the second time `value` (generation 2, the later
 * write: CouchDB's winner and the one latest-write-wins keeps). A's resolution writes only the deletion of B's leaf,
 * next to its own unpushed winner: both go in one push.
 */
async function conflict(emu: Emu, value: unknown, extra: Partial<FeatClientOptions>): Promise<{ a: Device; b: Device; user: string }> {
  const user = uniqueUser('rw');
  const a = device(emu, user, { name: 'A', extra: { maxRequestBytes: 0, ...extra } });
  const b = device(emu, user, { name: 'B', adapter: 'leveldb' });
  await Promise.all([a.ready(), b.ready()]);
  a.sync.pause();
  await waitFor(() => a.sync.status === 'paused', 5_000, 'A paused');
  await b.store.set('k', 'small');
  await b.sync.waitForPush({ timeout: 20_000 });
  await sleep(20);
  await a.store.set('k', 'a0');
  await a.store.set('k', value);
  a.sync.resume();
  return { a, b, user };
}

/** What a fresh device of `user` reads of `k`, once its first pull is done. */
async function fresh(emu: Emu, user: string): Promise<unknown> {
  const r = device(emu, user, { name: 'R', mode: 'remote' });
  return r.store.get('k');
}

describe('a resolved conflict whose kept winner the server refuses', () => {
  it('too large for the proxy: the other device keeps its value on the server; A keeps its own, pending', async () => {
    const { a, b, user } = await conflict(limited, BIG, {});
    await waitFor(() => a.errors.some((e) => e.code === 'too_large'), 30_000, 'the refusal');
    await waitFor(async () => (await a.sync.pending()) === 1, 10_000, 'pending() = 1');
    // The resolution is written (A holds no conflict), its push settled (refused, reported).
    await sleep(2_000);
    const server = await raw(limited, user);
    const leaves = await server.leaves('k');
    expect({ fresh: await fresh(limited, user), live: leaves.filter((l) => !l.deleted).map((l) => l.doc) }).toEqual({ fresh: 'small', live: ['small'] });
    expect(await b.store.get('k')).toBe('small');
    expect(((await a.store.get('k')) as string).length).toBe(BIG.length);
    expect(await a.sync.pending()).toBe(1);
    expect(a.sync.status).toBe('error');
  }, 60_000);

  for (const refuse of ['too-large', 'forbidden'] as const) {
    it(`${refuse}, then taken: the winner and then the deletion arrive; every device converges`, async () => {
      const g = gate(refuse);
      const value = refuse === 'too-large' ? BIG : 'a1';
      const { a, b, user } = await conflict(unlimited, value, { fetch: g.fetch });
      const code = refuse === 'too-large' ? 'too_large' : 'forbidden';
      await waitFor(() => a.errors.some((e) => e.code === code), 30_000, `the refusal (${code})`);
      await sleep(2_000);
      expect(await fresh(unlimited, user)).toBe('small');
      expect(await b.store.get('k')).toBe('small');
      expect(await a.sync.pending()).toBe(1);
      // B stays out of it: what reaches the server from here on is A's resend alone.
      b.sync.pause();
      g.lift();
      const server = await raw(unlimited, user);
      let last = '';
      await waitFor(
        async () => {
          const doc = await server.doc('k');
          const leaves = await server.leaves('k');
          last = JSON.stringify({ status: doc.status, conflicts: doc.body._conflicts ?? [], live: leaves.filter((l) => !l.deleted).length });
          return doc.status === 200 && !doc.body._conflicts?.length && doc.body.doc === value;
        },
        40_000,
        'the winner and its deletion on the server',
      ).catch(() => undefined);
      expect(last).toBe(JSON.stringify({ status: 200, conflicts: [], live: 1 }));
      await waitFor(async () => (await a.sync.pending()) === 0, 10_000, "A's pending() = 0");
      b.sync.resume();
      await waitFor(async () => (await b.store.get('k')) === value, 20_000, 'B converges');
      expect(await fresh(unlimited, user)).toBe(value);
      // B pulled the winner and its deletion in one batch: it remembers both (replicator.ts #notePulled) and sends
      // nothing back — the big winner would be over its own 1 MiB `maxRequestBytes`.
      await sleep(2_000);
      expect(b.errors.map((e) => e.code)).toEqual([]);
      await waitFor(() => b.sync.status === 'idle', 10_000, 'B idle');
    }, 90_000);
  }
});
