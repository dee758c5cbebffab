/**
 * Two devices hold the same value, one of them with a `ttl`, on two leaves (A offline while B set it with a ttl, then A
 * set it again, later, without one): the same value is no conflict (no resolver call), and the value keeps the expiry
 * of the newest leaf holding it (README: a kept value keeps the expiry of the write it came from). It kept the
 * expiry of CouchDB's winning leaf instead — chosen by revision hash — so in about half the runs A's later permanent
 * write lost to B's older ttl and the value expired on both devices (3 of 6 runs).
 */
import { expect, it } from 'vitest';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { device as deviceOf } from '../support/devices.js';

const emu = useEmulator();
/** A local-first device with a replica of its own name. */
const device = (user: string, name: string) =>
  deviceOf(emu, user, { name, extra: { local: { adapter: 'memory', name: `${user}-${name}` }, maintenance: { enabled: false } } });

it.each([0, 1, 2, 3])('the later write without a ttl keeps the value on both devices (run %i)', async () => {
  const user = uniqueUser('samettl');
  const A = device(user, 'A');
  const B = device(user, 'B');
  await Promise.all([A.ready(), B.ready()]);
  await A.store.set('k', 'same');
  await A.sync.waitForPush({ timeout: 20_000 });
  A.sync.pause();
  await waitFor(async () => (await B.store.get('k')) === 'same', 20_000, 'B sees k');
  await B.store.set('k', 'same', { ttl: 2_000 });
  await B.sync.waitForPush({ timeout: 20_000 });
  await sleep(20);
  await A.store.set('k', 'same');
  A.sync.resume();
  await A.sync.waitForPush({ timeout: 20_000 });
  await sleep(3_000); // past B's ttl
  expect([await A.store.get('k'), await B.store.get('k')]).toEqual(['same', 'same']);
}, 60_000);
