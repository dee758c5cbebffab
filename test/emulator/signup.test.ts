/**
 * Sign-up against the `'couchdb'` profile: CouchDB creates the per-user database admin-only and sets its members a
 * moment later, so the user's first requests may get `403 forbidden`. The SDK's `ready()` treats that as "not ready
 * yet" and keeps polling (bounded by `bootstrapTimeout`), so many users signing up at once all succeed.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createFeatClient, isFeatError, type FeatClient } from '@feat/sdk';
import { startEmulator, type Emulator } from '@feat/emulator';
import { unique } from './helpers.js';

let wide: Emulator;
let real: Emulator;
let stuck: Emulator;
const clients: FeatClient[] = [];

beforeAll(async () => {
  [wide, real, stuck] = await Promise.all([
    // A window wide enough that polling always meets it, even on a loaded machine.
    startEmulator({ profile: 'couchdb', peruserAdminOnlyMs: 250 }),
    // The window as measured (drawn from 5–60 ms per database).
    startEmulator({ profile: 'couchdb' }),
    // Members never set within the test: the wait must end, with a clear error.
    startEmulator({ profile: 'couchdb', peruserAdminOnlyMs: 600_000 }),
  ]);
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});
afterAll(async () => {
  await Promise.all([wide?.stop(), real?.stop(), stuck?.stop()]);
});

function client(emu: Emulator, user: string, bootstrapTimeout?: number): FeatClient {
  const c = createFeatClient({
    couchUrl: emu.couchUrl,
    accountsUrl: emu.accountsUrl,
    auth: emu.bearerFor(user),
    local: { adapter: 'memory' },
    ...(bootstrapTimeout === undefined ? {} : { bootstrapTimeout }),
  });
  clients.push(c);
  return c;
}

async function signUpMany(emu: Emulator, count: number): Promise<string[]> {
  const users = Array.from({ length: count }, () => unique('signup'));
  const results = await Promise.allSettled(users.map((u) => client(emu, u).ready()));
  return results.flatMap((r, i) => (r.status === 'rejected' ? [`${users[i]}: ${String(r.reason)}`] : []));
}

describe('sign-up through the admin-only window', () => {
  it('12 users at once, 250 ms window: every ready() resolves (0 failures) and the 403 was met', async () => {
    wide.resetRequests();
    expect(await signUpMany(wide, 12)).toEqual([]);
    expect(wide.requests.some((r) => r.status === 403)).toBe(true);
  });

  it('12 users at once with the measured window: 0 failures', async () => {
    expect(await signUpMany(real, 12)).toEqual([]);
  });

  it('a database that stays forbidden fails ready() with forbidden once bootstrapTimeout has passed', async () => {
    const started = Date.now();
    const error = await client(stuck, unique('stuck'), 600)
      .ready()
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(isFeatError(error) && error.code).toBe('forbidden');
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
