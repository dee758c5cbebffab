/**
 * close() and logout() close the index databases pouchdb-find opens beside a LevelDB replica (`<name>-mrview-<hash>`,
 * one per index): PouchDB's close() leaves them open, so their files (LOCK, LOG, MANIFEST, the log) stayed held by the
 * process after the client was gone, one set more for every account signing in and out. Linux only (`/proc/self/fd`).
 */
import { existsSync, mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClientOptions } from '@feat/sdk';
import { uniqueUser, useEmulator, waitFor } from '../support/backend.js';

const emu = useEmulator();
const dir = mkdtempSync(join(tmpdir(), 'feat-views-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Files under `prefix` this process holds open. */
const openFilesUnder = (prefix: string) =>
  readdirSync('/proc/self/fd')
    .map((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`);
      } catch {
        return '';
      }
    })
    .filter((path) => path.startsWith(prefix));

const options = (user: string, name: string): FeatClientOptions => ({
  couchUrl: emu.couchUrl,
  accountsUrl: emu.accountsUrl,
  auth: emu.bearerFor(user),
  mode: 'local-first',
  local: { adapter: 'leveldb', name },
  indexes: [{ fields: ['prio'] }],
  maintenance: { enabled: false },
});

describe.runIf(existsSync('/proc/self/fd'))('LevelDB replica: the index databases are closed with it', () => {
  it('close() after find(): no file of the replica or its indexes stays open', async () => {
    const name = join(dir, 'a');
    const c = createFeatClient(options(uniqueUser('views'), name));
    await c.ready();
    await c.store.set('t1', { prio: 1 });
    expect(await c.store.find({ selector: { prio: { $gt: 0 } } })).toHaveLength(1);
    expect(openFilesUnder(`${name}-mrview-`).length).toBeGreaterThan(0);
    await c.close();
    await waitFor(() => openFilesUnder(name).length === 0, 5_000, 'no open file under the replica');
  });

  it('accounts signing in and out one after another (logout): open files do not grow', async () => {
    const held: number[] = [];
    for (let i = 0; i < 4; i++) {
      const c = createFeatClient(options(uniqueUser(`views${i}`), join(dir, `u${i}`)));
      await c.ready();
      await c.store.set('t', { prio: i + 1 });
      await c.store.find({ selector: { prio: { $gt: 0 } } });
      await c.logout();
      held.push(openFilesUnder(dir).length);
    }
    expect(held).toEqual([0, 0, 0, 0]);
  });

  it('the replica opened again after close(): its index answers (the view reopens)', async () => {
    const name = join(dir, 'c');
    const user = uniqueUser('viewsre');
    const a = createFeatClient(options(user, name));
    await a.ready();
    await a.store.set('t1', { prio: 1 });
    expect(await a.store.find({ selector: { prio: { $gt: 0 } } })).toHaveLength(1);
    await a.close();
    const b = createFeatClient(options(user, name));
    await b.ready();
    await b.store.set('t2', { prio: 2 });
    expect((await b.store.find({ selector: { prio: { $gt: 0 } } })).map((r) => r.key)).toEqual(['t1', 't2']);
    await b.close();
  });
});
