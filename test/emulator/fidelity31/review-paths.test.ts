/**
 * From the review of the fidelity fixes, measured on the real stack: a `..` climbing above the root gets nginx's 400
 * page (the emulator clamped it and answered a JSON 404); a sign-up name holding a `%` that starts no escape gets
 * CouchDB's 400 `invalid_url_encoding` (the emulator created the account and its database).
 */
import { expect, it } from 'vitest';
import { uniqueUser, useEmulator } from '../../support/backend.js';
import { rawCapped } from '../raw-deadline.js';
import { ownDatabase } from './setup.js';

const { send } = ownDatabase('r31dd');
const emu = useEmulator({ profile: 'couchdb' });

it('GET /../{db} → nginx 400 page', async () => {
  const r = await send('GET', '/../{db}');
  expect({ status: r.status, html: /<html>/.test(r.text) }).toEqual({ status: 400, html: true });
});

it.each(['a%zz%41', '50%%41'])('a sign-up name with a %% that starts no escape (%s) → 400 invalid_url_encoding', async (suffix) => {
  const name = `${uniqueUser('r31pe')}${suffix}`;
  const h = emu.couchHeadersFor(name) as unknown as Record<string, string>;
  const r = await rawCapped(emu.couchUrl, 'POST', '/_users/create-new-user', undefined, h, 8000);
  expect({ status: r.status, body: r.body }).toEqual({ status: 400, body: { error: 'bad_request', reason: 'invalid_url_encoding' } });
});
