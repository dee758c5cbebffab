/**
 * A request whose 401 refresh still waits for the auth provider when close() is called ends with `closed` (it was
 * turned into a 401: `unauthorized`, which an app may take for a signed-out user).
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, isFeatError } from '@feat/sdk';
import { uniqueUser, useEmulator, waitFor } from '../support/backend.js';

const emu = useEmulator();

describe('close() during a token refresh', () => {
  it('a get whose token refresh hangs, then close(): rejects closed/aborted, not unauthorized', async () => {
    const user = uniqueUser('rv-close');
    const bearer = emu.bearerFor(user);
    let calls = 0;
    let refusing = false;
    const f: typeof fetch = async (input, init) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      if (refusing && url.startsWith(emu.couchUrl) && /\/probe/.test(url)) {
        return new Response(JSON.stringify({ error: 'unauthorized', reason: 'expired' }), { status: 401, headers: { 'Content-Type': 'application/json' } });
      }
      return globalThis.fetch(input, init);
    };
    const client = emu.track(
      createFeatClient({
        couchUrl: emu.couchUrl,
        accountsUrl: emu.accountsUrl,
        auth: () => (calls++ === 0 ? Promise.resolve(bearer) : new Promise<string>(() => {})),
        mode: 'remote',
        fetch: f,
        maintenance: { enabled: false },
      } as never),
    );
    const errors: unknown[] = [];
    client.sync.on('error', (e) => errors.push(e));
    await client.ready();
    refusing = true;
    const got = client.store.get('probe').then(
      () => 'resolved',
      (e: unknown) => (isFeatError(e) ? e.code : String(e)),
    );
    await waitFor(() => calls >= 2, 5_000, 'provider asked again');
    await client.close();
    const code = await got;
    expect(code).toBe('closed');
  }, 30_000);
});
