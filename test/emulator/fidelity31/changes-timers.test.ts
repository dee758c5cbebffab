/**
 * `_changes` timers: CouchDB holds a timeout or heartbeat to its `changes_timeout` (60 s); Node's timers fire after
 * 1 ms past 2^31 - 1 ms, and the emulator answered a 24.9-day long poll at once and wrote a heartbeat every ms.
 */
import { expect, it } from 'vitest';
import { ownDatabase } from './setup.js';

const { send } = ownDatabase('f31timers');

it('feed=longpoll&since=now&timeout=2147483648 waits (real: still open after 1.5 s, no last_seq)', async () => {
  const r = await send('GET', '/{db}/_changes?feed=longpoll&since=now&timeout=2147483648', undefined, {}, 1500);
  expect({ cut: r.cut, status: r.status }).toEqual({ cut: true, status: 200 });
  expect(r.text).not.toContain('last_seq');
});

it('heartbeat=99999999999: no heartbeat newline within 1.5 s (real: none)', async () => {
  const r = await send('GET', '/{db}/_changes?feed=continuous&since=now&heartbeat=99999999999', undefined, {}, 1500);
  expect(r.cut).toBe(true);
  expect(r.text.length, `${r.text.length} bytes in 1.5 s`).toBeLessThan(10);
});

it('feed=longpoll&since=now&limit=0&timeout=500 waits the timeout out (real: 200 after ~500 ms, no rows, pending 0)', async () => {
  const t0 = Date.now();
  const r = await send('GET', '/{db}/_changes?feed=longpoll&since=now&limit=0&timeout=500', undefined, {}, 3000);
  expect(r.status).toBe(200);
  expect(Date.now() - t0).toBeGreaterThanOrEqual(400);
  expect(r.body).toMatchObject({ results: [], pending: 0 });
});

it('feed=longpoll&limit=0 and a write meanwhile: still no row (real: 200 with results [] after the timeout)', async () => {
  const poll = send('GET', '/{db}/_changes?feed=longpoll&since=now&limit=0&timeout=800', undefined, {}, 4000);
  await new Promise((r) => setTimeout(r, 200));
  expect((await send('PUT', `/{db}/lp0-${Date.now()}`, '{}')).status).toBe(201);
  const r = await poll;
  expect(r.status).toBe(200);
  expect((r.body as { results: unknown[] }).results).toEqual([]);
});
