/**
 * A REST call whose 401 made the client ask the auth provider again, and the provider never answered: the call ends
 * with `timeout` (docs/api.md: "A provider call that did not answer within `timeout` is forgotten: the next call asks
 * the provider again"). A call made right after it used to join the provider call still under way (it began before)
 * and fail a moment later with that stale `timeout`, without asking the provider or sending anything. Now it asks the
 * provider itself once that call runs out, within its own limit.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFeatApi } from '@feat/sdk/api';
import { failure } from '../support/hostile-server.js';

let answer: (res: ServerResponse) => void = (res) => res.end();
let hits = 0;
let base = '';
const sockets = new Set<Socket>();
const server = createServer((req, res) => {
  hits++;
  req.resume();
  req.on('end', () => answer(res));
});
server.on('connection', (s) => {
  sockets.add(s);
  s.on('close', () => sockets.delete(s));
});
beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => server.close(() => r()));
});

const q = { target_type: 400 };
const unauthorized = (res: ServerResponse) => {
  res.writeHead(401);
  res.end();
};
const counted = (res: ServerResponse) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ data: { count: 7 } }));
};

describe('the auth provider hanging after a 401', () => {
  it('the call right after asks the provider again instead of failing with the stale timeout', async () => {
    answer = unauthorized;
    let asked = 0;
    const api = createFeatApi({ apiUrl: base, accountsUrl: base, timeout: 600, auth: () => (++asked === 1 ? 'Bearer t1' : new Promise<string>(() => undefined)) });
    const first = await failure(api.activity.commentCount(q), 3_000);
    expect(first.error.code).toBe('timeout');
    expect(asked).toBe(2);
    const second = await failure(api.activity.commentCount(q), 3_000);
    expect(second.error.code).toBe('timeout');
    expect(asked).toBe(3);
    // Its own limit, not the end of the first call's provider call.
    expect(second.ms).toBeGreaterThan(400);
  });

  it('a provider that answers again: the call right after goes through', async () => {
    answer = unauthorized;
    let asked = 0;
    let hang = true;
    const api = createFeatApi({
      apiUrl: base,
      accountsUrl: base,
      timeout: 600,
      auth: () => {
        asked++;
        if (asked === 1) return 'Bearer t1';
        return hang ? new Promise<string>(() => undefined) : 'Bearer t2';
      },
    });
    await failure(api.activity.commentCount(q), 3_000);
    hang = false;
    answer = counted;
    const before = hits;
    await expect(api.activity.commentCount(q)).resolves.toBeDefined();
    expect(hits - before).toBe(1);
    expect(asked).toBe(3);
  });

  it('calls joining a provider call under way share one new ask when it runs out', async () => {
    answer = unauthorized;
    let asked = 0;
    const api = createFeatApi({ apiUrl: base, accountsUrl: base, timeout: 600, auth: () => (++asked === 1 ? 'Bearer t1' : new Promise<string>(() => undefined)) });
    await failure(api.activity.commentCount(q), 3_000);
    const results = await Promise.all(Array.from({ length: 5 }, () => failure(api.activity.commentCount(q), 3_000)));
    expect(results.map((r) => r.error.code)).toEqual(Array(5).fill('timeout'));
    expect(asked).toBe(3);
  });
});
