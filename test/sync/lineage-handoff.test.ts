/**
 * README "Conflicts": a leaf another leaf descends from is no side of a conflict, even once the revision history no
 * longer says so. That held only while one client had made every edit since the old leaf: a key handed over — edited
 * on the laptop, then on the phone (or on the laptop again after the app restarted: a new writer) — met an offline
 * device's old value as a conflict once the history was stemmed. A merging resolver brought back what had been
 * removed, and the default one let an old value stamped by a fast clock undo every later edit, on every device and the
 * server. The writer's run now names the runs it went on top of (lineage.ts `anc`). The server keeps 5 revisions here
 * (an operator may lower `_revs_limit`), so that 3 + 3 edits stem the history.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createFeatClient, type Conflict, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { raw } from '../support/devices.js';
import { putStamped, setRevsLimit } from './revs-limit.js';

const emu = useEmulator();

/** A resolver that keeps both sides' items (a removed item comes back if its old value is taken for a side). */
const union = (asked: string[]) => (c: Conflict) => {
  asked.push(JSON.stringify([c.local.value, c.remote.value]));
  const out = [...((c.local.value as string[] | undefined) ?? [])];
  for (const x of (c.remote.value as string[] | undefined) ?? []) if (!out.includes(x)) out.push(x);
  return out.sort();
};
const leveldb = () => ({ adapter: 'leveldb' as const, name: join(mkdtempSync(join(tmpdir(), 'feat-handoff-')), 'db') });

function device(user: string, local: FeatClientOptions['local'], asked?: string[]): FeatClient {
  return emu.track(
    createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), local, ...(asked ? { onConflict: union(asked) } : {}) } as FeatClientOptions),
  );
}

const same = async (clients: FeatClient[], want: unknown) =>
  JSON.stringify(await Promise.all(clients.map((c) => c.store.get('k')))) === JSON.stringify(clients.map(() => want));

/**
 * The tablet holds v0 offline; the key is edited 3 times on a first writer, then 3 times on a second (`next`), each
 * edit pushed; the tablet comes back. Returns what the tablet, the writers and the server end with.
 */
async function handOver(user: string, v0: 'written' | 'fast-clock', next: 'phone' | 'restart', asked?: string[]) {
  const laptopStore = leveldb();
  let laptop = device(user, laptopStore, asked);
  await laptop.ready();
  await setRevsLimit(emu, user, 5);
  // v0: the laptop's own write, or (the default resolver's worst case) a value stamped 10 minutes ahead by a device
  // whose clock runs fast.
  if (v0 === 'written') await laptop.store.set('k', ['x', 'y']);
  else await putStamped(emu, user, 'k', ['x', 'y'], 600_000);
  await waitFor(async () => JSON.stringify(await laptop.store.get('k')) === '["x","y"]', 20_000, 'the laptop has v0');
  await laptop.sync.waitForPush({ timeout: 20_000 });
  const tablet = device(user, { adapter: 'memory' }, asked);
  await tablet.ready();
  await waitFor(async () => JSON.stringify(await tablet.store.get('k')) === '["x","y"]', 20_000, 'the tablet has v0');
  tablet.sync.pause();
  await laptop.store.set('k', ['x']); // y removed
  for (let i = 0; i < 3; i++) {
    await laptop.store.set('k', ['x', `a${i}`]);
    await laptop.sync.waitForPush({ timeout: 20_000 });
  }
  let second: FeatClient;
  if (next === 'phone') {
    second = device(user, { adapter: 'memory' }, asked);
    await second.ready();
    await waitFor(() => same([second], ['x', 'a2']), 20_000, 'the phone has the laptop’s value');
  } else {
    await laptop.close();
    second = laptop = device(user, laptopStore, asked);
    await laptop.ready();
  }
  for (let i = 0; i < 3; i++) {
    await second.store.set('k', ['x', `b${i}`]);
    await second.sync.waitForPush({ timeout: 20_000 });
  }
  const want = ['x', 'b2'];
  const writers = next === 'phone' ? [laptop, second] : [laptop];
  await waitFor(() => same(writers, want), 20_000, 'the writers agree');
  tablet.sync.resume();
  await waitFor(() => same([tablet, ...writers], want), 20_000, 'settled').catch(() => undefined);
  // (Time for a wrong resolution to be made and spread.)
  await sleep(1_500);
  const server = (await (await raw(emu, user)).doc('k')).body as { doc?: unknown; _conflicts?: string[] };
  return {
    got: { tablet: await tablet.store.get('k'), writers: await Promise.all(writers.map((c) => c.store.get('k'))), server: server.doc },
    want: { tablet: want, writers: writers.map(() => want), server: want },
  };
}

describe('a key handed over between writers, its history stemmed: the old value an offline device holds is no side', () => {
  for (const next of ['phone', 'restart'] as const) {
    it(`${next === 'phone' ? 'laptop, then phone' : 'laptop, then the laptop’s app started again'}: a merging resolver is not asked; the removed item stays removed`, async () => {
      const asked: string[] = [];
      const r = await handOver(uniqueUser(`handoff-${next}`), 'written', next, asked);
      expect(asked).toEqual([]);
      expect(r.got).toEqual(r.want);
    }, 90_000);

    it(`${next === 'phone' ? 'laptop, then phone' : 'laptop, then the laptop’s app started again'}: the default resolver keeps the last edit over a v0 a fast clock stamped`, async () => {
      const r = await handOver(uniqueUser(`handoff-fast-${next}`), 'fast-clock', next);
      expect(r.got).toEqual(r.want);
    }, 90_000);
  }
});
