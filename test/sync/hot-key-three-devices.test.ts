/**
 * Three local-first devices with the default resolver write one key at once, over and over for 4 s, then stop: every
 * device and the server end on one value, no conflicting leaf left, nothing pending (API.md: "Two devices resolving
 * the same conflict converge without creating new conflicts"). On the emulator they stayed apart 30–60 s (7 of 12
 * runs): its continuous feed queued every intermediate state and fell seconds behind, the devices pulled and resolved
 * leaves long replaced, each resolution a change more (CouchDB lists a document once, at its newest state; fixed in the
 * emulator, test/emulator/fidelity32/changes-backlog-latest-state.test.ts). Black-box attack, devices with mixed
 * configurations: one device here pushes through a smaller request limit.
 */
import { expect, it } from 'vitest';
import { sleep, uniqueUser, useEmulator } from '../support/backend.js';
import { device, raw } from '../support/devices.js';

const emu = useEmulator();

it('3 devices, default resolver, one key written concurrently for 4 s: converge within 15 s once writes stop', async () => {
  const user = uniqueUser('hot3');
  const devices = ['D0', 'D1', 'D2'].map((name, k) =>
    device(emu, user, {
      name,
      extra: { local: { adapter: 'memory', name: `${user}-${name}` }, maintenance: { enabled: false }, ...(k === 1 ? { maxRequestBytes: 131_072 } : {}) },
    }),
  );
  await Promise.all(devices.map((d) => d.ready()));
  const end = Date.now() + 4_000;
  let i = 0;
  while (Date.now() < end) {
    i++;
    await Promise.all(devices.map((d, k) => d.store.set('hot', { by: `D${k}`, i })));
    await sleep(10);
  }
  const server = await raw(emu, user);
  const start = Date.now();
  let last = '';
  let converged = false;
  while (!converged && Date.now() - start < 15_000) {
    const values = (await Promise.all(devices.map((d) => d.store.get('hot')))) as { by: string; i: number }[];
    const doc = await server.doc('hot');
    const stored = doc.body.doc as { by: string; i: number };
    last = JSON.stringify({ values: values.map((v) => `${v.by}#${v.i}`), server: `${stored.by}#${stored.i}`, conflicts: doc.body._conflicts?.length ?? 0 });
    converged = values.every((v) => v.by === stored.by && v.i === stored.i) && !doc.body._conflicts?.length;
    if (!converged) await sleep(200);
  }
  expect(converged, `after ${i} rounds of writes: ${last}`).toBe(true);
  await expect.poll(() => Promise.all(devices.map((d) => d.sync.pending())), { timeout: 10_000 }).toEqual([0, 0, 0]);
}, 60_000);
