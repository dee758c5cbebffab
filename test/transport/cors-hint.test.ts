/**
 * In a browser, `fetch` fails alike when the network does and when the answer does not allow the page's origin
 * (CORS): the `network` error says both there (measured in Chromium: a server refusing the origin gave the bare
 * "could not be reached"), and only the network in Node.
 */
import { afterEach, expect, it } from 'vitest';
import { createFeatClient, type FeatError } from '@feat/sdk';

const g = globalThis as { location?: unknown };
afterEach(() => {
  delete g.location;
});

async function networkMessage(): Promise<string> {
  const c = createFeatClient({ couchUrl: 'http://127.0.0.1:1', session: { headers: { 'X-Auth-CouchDB-UserName': 'ann', 'X-Auth-CouchDB-Token': 't' }, dbName: 'userdb-616e6e' }, mode: 'remote', requestTimeout: 2_000 } as never);
  try {
    const e = (await c.store.get('k').catch((error: unknown) => error)) as FeatError;
    expect(e.code).toBe('network');
    return e.message;
  } finally {
    await c.close();
  }
}

it('a page (http(s), a file:// page, an app shell): the network error names CORS too; Node: the connection only', async () => {
  expect(await networkMessage()).not.toMatch(/CORS/);
  for (const origin of ['http://localhost:5173', 'null', 'capacitor://localhost']) {
    g.location = { origin };
    expect(await networkMessage(), origin).toMatch(/CORS/);
  }
});
