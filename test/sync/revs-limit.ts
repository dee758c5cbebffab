/**
 * The server's revision history depth (`_revs_limit`, 1,000 by default; an operator may lower it), for the tests of
 * histories stemmed past a common revision (stemmed-history.test.ts): set through the user's database (a database
 * admin in the emulator), or, on the real server, as its admin.
 */
import { ON_REAL } from '../support/target.js';
import { rawDatabase } from '../support/resolver-harness.js';
import type { useEmulator } from '../support/backend.js';

type Emulator = ReturnType<typeof useEmulator>;
const COUCH = process.env.COUCH_URL ?? 'http://127.0.0.1:5984';
const ADMIN = process.env.COUCH_ADMIN ?? 'admin:adminpass';

export async function setRevsLimit(emu: Emulator, user: string, limit: number): Promise<void> {
  const { url, headers } = await rawDatabase(emu, user);
  const init = { method: 'PUT', body: JSON.stringify(limit) };
  let r = await fetch(`${url}/_revs_limit`, { ...init, headers });
  if (!r.ok && ON_REAL) {
    const admin = { Authorization: `Basic ${Buffer.from(ADMIN).toString('base64')}`, 'Content-Type': 'application/json' };
    r = await fetch(`${COUCH}/${url.slice(url.lastIndexOf('/') + 1)}/_revs_limit`, { ...init, headers: admin });
  }
  if (!r.ok) throw new Error(`PUT _revs_limit: ${r.status} ${await r.text()}`);
}

/** A value written straight to the server, stamped `aheadMs` after this machine's clock (another device's fast clock). */
export async function putStamped(emu: Emulator, user: string, id: string, value: unknown, aheadMs: number): Promise<void> {
  const { url, headers } = await rawDatabase(emu, user);
  const body = JSON.stringify({ doc: value, feat: { updatedAt: Date.now() + aheadMs } });
  const r = await fetch(`${url}/${encodeURIComponent(id)}`, { method: 'PUT', headers, body });
  if (r.status !== 201) throw new Error(`PUT ${id}: ${r.status} ${await r.text()}`);
}
