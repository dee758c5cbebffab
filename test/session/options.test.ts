/**
 * createFeatClient() option validation: a non-object → TypeError; anything else wrong → FeatError `invalid_argument`,
 * thrown synchronously, before any request.
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, FeatError, isFeatError, type FeatClientOptions } from '@feat/sdk';
import { recorder } from './harness.js';

const COUCH = 'https://couchdb.feat.test';
const ACCOUNTS = 'https://accounts.feat.test';
const base = { couchUrl: COUCH, accountsUrl: ACCOUNTS, auth: 'Bearer abc' };

/** The error createFeatClient throws synchronously (fails the test when it does not throw). */
function thrown(options: unknown): unknown {
  try {
    createFeatClient(options as FeatClientOptions);
  } catch (error) {
    return error;
  }
  throw new Error(`createFeatClient(${JSON.stringify(options)}) did not throw`);
}

function expectInvalid(options: unknown, mentions: string): void {
  const error = thrown(options);
  expect(error).toBeInstanceOf(FeatError);
  expect(isFeatError(error, 'invalid_argument'), String(error)).toBe(true);
  expect((error as Error).message).toContain(mentions);
}

describe('createFeatClient options', () => {
  it.each([null, undefined, 'x', 42, [], true])('%j → invalid_argument (a FeatValidationError, not a TypeError)', (options) => {
    const error = thrown(options);
    expect(error).toBeInstanceOf(FeatError);
    expect(error).toMatchObject({ name: 'FeatValidationError', code: 'invalid_argument' });
  });

  it.each([undefined, '', 'couchdb.feat.com', 'not a url', 'ftp://couchdb.feat.com', 'file:///tmp/db', 42, {}])('couchUrl %j → invalid_argument', (couchUrl) => {
    expectInvalid({ ...base, couchUrl }, 'couchUrl');
  });

  it('no accountsUrl and no session → invalid_argument', () => {
    expectInvalid({ couchUrl: COUCH, auth: 'Bearer abc' }, 'accountsUrl');
  });

  it.each(['accounts.feat.com', 'mailto:x@y.z', 7])('accountsUrl %j → invalid_argument', (accountsUrl) => {
    expectInvalid({ ...base, accountsUrl }, 'accountsUrl');
  });

  it.each([undefined, '', '   ', 42, {}])('accountsUrl without a usable auth (%j) → invalid_argument', (auth) => {
    expectInvalid({ couchUrl: COUCH, accountsUrl: ACCOUNTS, auth }, 'auth');
  });

  it.each(['offline', 'local', '', 1, null])('mode %j → invalid_argument', (mode) => {
    expectInvalid({ ...base, mode }, 'mode');
  });

  it.each([-1, 1.5, 100, 4095, '1048576', Number.NaN, Number.POSITIVE_INFINITY, null])('maxRequestBytes %j → invalid_argument', (maxRequestBytes) => {
    expectInvalid({ ...base, maxRequestBytes }, 'maxRequestBytes');
  });

  it.each([0, 4096, 1_048_576])('maxRequestBytes %j is accepted', (maxRequestBytes) => {
    expect(() => createFeatClient({ ...base, maxRequestBytes })).not.toThrow();
  });

  it.each([-1, 0.5, '100'])('bootstrapTimeout %j → invalid_argument', (bootstrapTimeout) => {
    expectInvalid({ ...base, bootstrapTimeout }, 'bootstrapTimeout');
  });

  it.each([
    [{ headers: {} }, 'session.dbName'],
    [{ dbName: '', headers: {} }, 'session.dbName'],
    [{ dbName: '..', headers: {} }, 'session.dbName'],
    [{ dbName: '_users', headers: {} }, 'session.dbName'],
    [{ dbName: 'userdb-61' }, 'session.headers'],
    [{ dbName: 'userdb-61', headers: { 'X-Auth-CouchDB-Token': 1 } }, 'session.headers'],
    [{ dbName: 'userdb-61', headers: {}, userName: 5 }, 'session.userName'],
  ])('session %j → invalid_argument', (session, mentions) => {
    expectInvalid({ couchUrl: COUCH, session }, mentions);
  });

  it('fetch that is not a function → invalid_argument', () => {
    expectInvalid({ ...base, fetch: 'fetch' }, 'fetch');
  });

  it('valid options: no error, and no request until ready() or a store call', async () => {
    const rec = recorder();
    const c = createFeatClient({ ...base, mode: 'remote', fetch: rec.fetch });
    const direct = createFeatClient({ couchUrl: `${COUCH}/`, session: { dbName: 'userdb-61', headers: {} }, mode: 'remote', fetch: rec.fetch });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(rec.calls).toEqual([]);
    expect(c.session).toBeUndefined();
    await Promise.all([c.close(), direct.close()]);
    expect(rec.calls).toEqual([]);
  });
});
