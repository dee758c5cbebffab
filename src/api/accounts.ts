import { FeatError, FeatValidationError } from '../errors.js';
import { parseCouchToken, type CouchToken } from '../session/token.js';
import type { ApiClient } from './client.js';
import type { CallOptions } from './options.js';

export interface AccountsApi {
  /**
   * `GET {accountsUrl}/couchdb/token/` → the CouchDB proxy-auth headers and the user's database name
   * (`{ data: { headers, dbname } }` on the wire). Needs `accountsUrl`, otherwise `invalid_argument`.
   */
  couchToken(options?: CallOptions): Promise<CouchToken>;
}

export const COUCH_TOKEN_PATH = '/couchdb/token/';

export function createAccountsApi(client: ApiClient, accountsUrl: string | undefined): AccountsApi {
  return {
    async couchToken(options) {
      if (accountsUrl === undefined) {
        throw new FeatValidationError(
          'invalid_argument',
          'accounts.couchToken: no "accountsUrl" was given; pass e.g. accountsUrl: "https://accounts.feat.com" to createFeatApi()',
        );
      }
      const url = accountsUrl + COUCH_TOKEN_PATH;
      return client.request<CouchToken>({
        method: 'get',
        url,
        options,
        parse: (body) => {
          try {
            return parseCouchToken(body, url);
          } catch (error) {
            if (error instanceof FeatError) {
              // Let the client add status and url.
              throw new FeatError(error.code, `accounts.couchToken: ${error.message}`, { cause: error });
            }
            throw error;
          }
        },
      });
    },
  };
}
