/**
 * live-push.ts #send holds a resolution's deletion until the document's live revision is stored — but when
 * the refused live revision was edited while its request was on the way (#store: "not a leaf any more" → no #refused
 * entry), `follow` lets the deletion go: the other device's leaf is deleted on the server while the newer winner is
 * refused too (a rule, or a size: a big value edited during its slow upload stays too big). The key vanishes from
 * the server — what commit 348ea68 set out to prevent.
 */
import { describe, expect, it } from 'vitest';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { device, raw } from '../support/devices.js';
import { forbidGate } from '../support/refusal-gate.js';

const emu = useEmulator();

describe('review: a refused winner edited while its push was on the way', () => {
  it("the other device's value stays on the server while A's winner is refused", async () => {
    const user = uniqueUser('zr-hd');
    const gate = forbidGate((id) => id === 'k');
    let edited = false;
    const seen: string[] = [];
    const logged: typeof fetch = async (input, init) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      if (/_bulk_docs/.test(url) && typeof init?.body === 'string') {
        const body = JSON.parse(init.body) as { docs: { _id: string; _rev: string; _deleted?: boolean }[] };
        seen.push(body.docs.map((d) => `${d._id}@${d._rev.slice(0, 6)}${d._deleted ? '(del)' : ''}`).join(','));
      }
      const late = armed;
      const response = await gate.fetch(input, init);
      if (late && !edited && /_bulk_docs/.test(url) && gate.refused > 0 && String(init?.body).includes('"_deleted":true') === false) {
        // This request (sent well after A resolved the conflict: its deletion of B's leaf is held behind it) carries
        // A's refused winner: the user edits k again before its answer arrives.
        edited = true;
        await a.store.set('k', 'a2');
      }
      return response;
    };
    let armed = false;
    const a = device(emu, user, { name: 'A', extra: { fetch: logged } });
    const b = device(emu, user, { name: 'B', adapter: 'leveldb' });
    await Promise.all([a.ready(), b.ready()]);
    a.sync.pause();
    await waitFor(() => a.sync.status === 'paused', 5_000, 'A paused');
    await b.store.set('k', 'small');
    await b.sync.waitForPush({ timeout: 20_000 });
    await sleep(20);
    await a.store.set('k', 'a0');
    await a.store.set('k', 'a1');
    a.sync.resume();
    await waitFor(() => a.errors.some((e) => e.code === 'forbidden'), 30_000, 'the refusal');
    await waitFor(() => a.conflicts.length > 0, 10_000, 'A resolved');
    // The deletion of B's leaf is written and held behind the refused winner; the next resend carries both.
    await sleep(1_000);
    armed = true;
    await waitFor(() => edited, 15_000, 'the resend').catch(() => undefined);
    await sleep(1_500);
    const bulks = gate.log.filter((l) => l.path.includes('_bulk_docs')).length;
    const server = await raw(emu, user);
    const leaves = await server.leaves('k');
    const fresh = device(emu, user, { name: 'R', mode: 'remote' });
    expect({ bulks: bulks > 0, fresh: await fresh.store.get('k'), live: leaves.filter((l) => !l.deleted).map((l) => l.doc) }).toEqual({ bulks: true, fresh: 'small', live: ['small'] });
  }, 60_000);
});
