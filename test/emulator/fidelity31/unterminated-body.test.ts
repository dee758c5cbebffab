/**
 * An unterminated request body (Content-Length 100, 10 bytes sent): nginx's client_body_timeout (60 s) closes the
 * connection with no answer (measured: closed at 60.06 s, nothing sent). The emulator held it forever. ~60 s.
 */
import { connect } from 'node:net';
import { expect, it } from 'vitest';
import { ownDatabase } from './setup.js';

const { emu, send, state } = ownDatabase('f31body');

it('is closed without an answer after ~60 s, and the database serves meanwhile', async () => {
  const u = new URL(emu.couchUrl);
  const s = connect(Number(u.port), u.hostname);
  await new Promise((r) => s.once('connect', r));
  const t0 = Date.now();
  const auth = Object.entries(state.headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  s.write(`PUT /${state.db}/hang HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a":"0123`);
  let data = '';
  s.on('data', (c: Buffer) => (data += c.toString()));
  const closed = new Promise<number | 'open'>((resolve) => {
    const timer = setTimeout(() => resolve('open'), 75_000);
    s.on('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - t0);
    });
  });
  expect((await send('PUT', '/{db}/hang2', '{}')).status).toBe(201);
  const at = await closed;
  s.destroy();
  expect(at).not.toBe('open');
  expect(at as number).toBeGreaterThanOrEqual(55_000);
  expect(at as number).toBeLessThan(70_000);
  expect(data).toBe('');
  expect((await send('GET', '/{db}/hang')).status).toBe(404);
}, 90_000);
