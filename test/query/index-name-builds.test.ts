/**
 * Two builds of an app give one index name different fields (an update rolling out, a web and a mobile build): each
 * build's sort works, on every device, in both modes. The index's design document was `_design/<name>`: the builds
 * replaced each other's definition, which replicated to every device, and the other build's sort failed — local-first
 * `bad_response` "Unexpected failure: Cannot sort on field(s) "doc.prio" when using the default index", remote
 * `invalid_argument` (no_usable_index) — every run, both backends (black-box attack, devices with mixed configurations).
 * Now the design document is named for the fields, the index within it by the name.
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClientOptions } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator } from '../support/backend.js';

const emu = useEmulator();

type Mode = 'local-first' | 'remote';
const device = (user: string, mode: Mode, fields: string[], name: string) =>
  emu.track(
    createFeatClient({
      couchUrl: emu.couchUrl,
      accountsUrl: emu.accountsUrl,
      auth: emu.bearerFor(user),
      mode,
      local: { adapter: 'memory', name: `${user}-${mode}-${fields.join('-')}` },
      maintenance: { enabled: false },
      indexes: [{ fields, name }],
    } as FeatClientOptions),
  );
const order = (c: ReturnType<typeof device>, field: string) =>
  c.store.find<Record<string, number>>({ prefix: 'todo', selector: { [field]: { $gte: 0 } }, sort: [field] }).then(
    (rows) => rows.map((r) => r.subkey).join(','),
    (e: { code?: string; message?: string }) => `${e.code}: ${e.message}`,
  );

describe.each([
  ['local-first', 'remote'],
  ['remote', 'local-first'],
  ['local-first', 'local-first'],
] as [Mode, Mode][])('build A (%s) indexes "main" on prio, build B (%s) "main" on due', (modeA, modeB) => {
  it('each sorts by its own field, on the same account at the same time', async () => {
    const user = uniqueUser('idxname');
    const a = device(user, modeA, ['prio'], 'main');
    await a.ready();
    await a.store.find({ prefix: 'todo' }); // A's declared index exists first
    const b = device(user, modeB, ['due'], 'main');
    await b.ready();
    await b.store.setParts('todo', { one: { prio: 2, due: 1 }, two: { prio: 1, due: 2 } });
    await b.sync.waitForPush({ timeout: 10_000 });
    await sleep(1_000); // B's index and values reach A (local-first: replicated)
    expect(await order(a, 'prio')).toBe('two,one');
    expect(await order(b, 'due')).toBe('one,two');
    // A third device of build A, new: the index that replicated to it is A's own.
    const a2 = device(user, modeA, ['prio'], 'main');
    await a2.ready();
    expect(await order(a2, 'prio')).toBe('two,one');
  }, 60_000);
});

describe.each(['local-first', 'remote'] as Mode[])('%s: an app update changes the fields of the index "main" (due → prio)', (mode) => {
  it("the new build's sort works", async () => {
    const user = uniqueUser('idxupd');
    const v1 = device(user, mode, ['due'], 'main');
    await v1.store.setParts('todo', { one: { prio: 2, due: 1 }, two: { prio: 1, due: 2 } });
    expect(await order(v1, 'due')).toBe('one,two');
    await v1.sync.waitForPush({ timeout: 10_000 });
    await v1.close();
    const v2 = device(user, mode, ['prio'], 'main');
    await v2.ready();
    expect(await order(v2, 'prio')).toBe('two,one');
  }, 60_000);
});
