/** A `last_seq` longer than the front takes in a URL (nginx 414), answered once: the pull reads from the start again. */
import { expect, it } from 'vitest';
import { waitFor } from '../../support/backend.js';
import { onChanges, sleep, useLiar } from './kit.js';

const { box, remote, device, uniqueUser } = useLiar();

for (const size of [100_000, 12_000]) it(`a last_seq of ${size} bytes once: sync recovers once the server answers properly`, async () => {
  const user = uniqueUser('hugeseq');
  const other = remote(user);
  await other.store.set('pre', 1);
  onChanges(box.mitm, () => undefined, (json) => ({ ...json, last_seq: 'x'.repeat(size) }));
  const dev = device(user);
  await dev.ready();
  await sleep(2000);
  box.mitm.reset();
  await other.store.set('after', 3);
  const ok = await waitFor(async () => (await dev.store.get('after')) === 3, 45000, 'convergence').then(() => true, () => false);
  expect(ok).toBe(true);
}, 60000);
