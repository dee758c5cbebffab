/**
 * A browser's `fetch` with `redirect: 'manual'` gives a redirect as an opaque response (type `opaqueredirect`, status 0,
 * no headers): CouchDB's redirect must read as in Node — `bad_response`, not a 5xx to resend (measured in Chromium:
 * it was `server` "HTTP 502", resent for about a second).
 */
import { expect, it } from 'vitest';
import { createFeatClient, type FeatClientOptions, type FeatError } from '@feat/sdk';
import { uniqueUser, useEmulator } from '../support/backend.js';

const emu = useEmulator();

it('an opaque redirect of a CouchDB request: bad_response at once, sent once', async () => {
  let asked = 0;
  const opaque = { type: 'opaqueredirect', status: 0, ok: false, redirected: false, statusText: '', url: '', headers: new Headers(), body: null } as unknown as Response;
  const browserLike: typeof fetch = async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (url.startsWith(emu.couchUrl) && new URL(url).pathname.endsWith('/k')) {
      asked++;
      return opaque;
    }
    return fetch(input, init);
  };
  const c = emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(uniqueUser('redir')), mode: 'remote', fetch: browserLike } as FeatClientOptions));
  await c.ready();
  const t = Date.now();
  const e = (await c.store.get('k').catch((error: unknown) => error)) as FeatError;
  expect({ code: e.code, took: Date.now() - t < 500, asked, message: /redirect/.test(e.message) }).toEqual({ code: 'bad_response', took: true, asked: 1, message: true });
});
