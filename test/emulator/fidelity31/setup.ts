/**
 * Shared set-up of the fidelity31 files: one user with their database on the backend under test (the emulator with
 * profile 'couchdb', or CouchDB 3.4.3 behind the deployment's nginx with FEAT_BACKEND=real), and raw HTTP to it.
 */
import { beforeAll } from 'vitest';
import { uniqueUser, useEmulator } from '../../support/backend.js';
import { rawCapped } from '../raw-deadline.js';

export const h32 = (c: string) => c.repeat(32);
export const j = JSON.stringify;

export function ownDatabase(prefix: string) {
  const emu = useEmulator({ profile: 'couchdb' });
  const state = { user: '', db: '', headers: {} as Record<string, string> };
  const send = (method: string, path: string, body?: string | Buffer, extra: Record<string, string> = {}, deadlineMs = 10_000) =>
    rawCapped(emu.couchUrl, method, path.replaceAll('{db}', state.db), body, { ...state.headers, ...extra }, deadlineMs);
  beforeAll(async () => {
    state.user = uniqueUser(prefix);
    await emu.createUser(state.user);
    state.headers = emu.couchHeadersFor(state.user) as unknown as Record<string, string>;
    state.db = `userdb-${Buffer.from(state.user).toString('hex')}`;
    for (let i = 0; i < 100 && (await send('GET', '/{db}')).status !== 200; i++) await new Promise((r) => setTimeout(r, 100));
  }, 60_000);
  return { emu, state, send };
}
