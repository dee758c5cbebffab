/**
 * Browsers' fetch throws "Illegal invocation" unless called as a plain function (or on window). The client must call
 * the given or global fetch that way everywhere: accounts, CouchDB, and replication.
 */
import { expect, it } from 'vitest';
import { createFeatClient } from '@feat/sdk';
import { useEmulator } from '../support/backend.js';

const emu = useEmulator();

/** A fetch that behaves like a browser's: it refuses to run with any `this` but undefined or the global object. */
function strictFetch(this: unknown, input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
  if (this !== undefined && this !== globalThis) throw new TypeError("Failed to execute 'fetch' on 'Window': Illegal invocation");
  return fetch(input, init);
}

it.each(['remote', 'local-first'] as const)('works with a fetch that must not be called as a method (%s)', async (mode) => {
  const client = createFeatClient({
    couchUrl: emu.couchUrl,
    accountsUrl: emu.accountsUrl,
    auth: emu.bearerFor(`strict-fetch-${mode}`),
    mode,
    local: { adapter: 'memory' },
    fetch: strictFetch as typeof fetch,
  });
  try {
    await client.ready();
    await client.store.set('k', 'v');
    await client.sync.waitForPush({ timeout: 10_000 });
    expect(await client.store.get('k')).toBe('v');
  } finally {
    await client.close();
  }
});
