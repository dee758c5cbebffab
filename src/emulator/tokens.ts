/**
 * The credentials of the deployment: CouchDB proxy-auth tokens, per-user database names, and the emulator's own
 * stateless bearers (standing in for the accounts service's login).
 */
import { createHmac } from 'node:crypto';

/**
 * The proxy-authentication token CouchDB expects in `X-Auth-CouchDB-Token`: lowercase hex HMAC-SHA1 of the user name
 * keyed with the secret (`[chttpd_auth] secret`).
 */
export function proxyToken(secret: string, userName: string): string {
  return createHmac('sha1', secret).update(userName, 'utf8').digest('hex');
}

/** The HMAC-SHA256 variant that CouchDB ≥ 3.3.2 also accepts. */
export function proxyTokenSha256(secret: string, userName: string): string {
  return createHmac('sha256', secret).update(userName, 'utf8').digest('hex');
}

/** Constant-time comparison of two ASCII strings. */
function sameText(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i += 1) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/**
 * True when `token` is the SHA-1 or SHA-256 proxy token of `userName` under `secret`, in lowercase hex: CouchDB
 * compares the text, so an uppercase token is refused (401).
 */
export function verifyProxyToken(secret: string, userName: string, token: string): boolean {
  return sameText(token, proxyToken(secret, userName)) || sameText(token, proxyTokenSha256(secret, userName));
}

/**
 * The per-user database name couch_peruser gives `userName`: `userdb-` + the lowercase hex of each UTF-8 byte,
 * **without zero padding** (CouchDB's quirk: byte 0x0a becomes `a`, not `0a`).
 */
export function userDbName(userName: string): string {
  let hex = '';
  for (const byte of Buffer.from(userName, 'utf8')) hex += byte.toString(16);
  return `userdb-${hex}`;
}

const BEARER_PREFIX = 'feat-emu.';

/** Mints and checks the emulator's bearers: `feat-emu.<base64url(name)>.<hex HMAC-SHA256(key, name)>`. */
export class BearerSigner {
  readonly #key: string;

  constructor(initialSecret: string) {
    this.#key = createHmac('sha256', 'feat-emulator bearer key').update(initialSecret, 'utf8').digest('hex');
  }

  #sign(userName: string): string {
    return createHmac('sha256', this.#key).update(userName, 'utf8').digest('hex');
  }

  /** The bare token (no `Bearer ` prefix). */
  token(userName: string): string {
    return `${BEARER_PREFIX}${Buffer.from(userName, 'utf8').toString('base64url')}.${this.#sign(userName)}`;
  }

  /**
   * The user a bearer belongs to, or undefined when it is missing or not ours. Lenient about the scheme:
   * `Bearer <t>`, a bare `<t>` and a doubled `Bearer Bearer <t>` are all accepted.
   */
  verify(authorization: string | undefined): string | undefined {
    if (authorization === undefined) return undefined;
    const token = authorization.trim().replace(/^(bearer\s+)+/i, '');
    if (!token.startsWith(BEARER_PREFIX)) return undefined;
    const [encoded, signature, extra] = token.slice(BEARER_PREFIX.length).split('.');
    if (encoded === undefined || signature === undefined || extra !== undefined || encoded === '') return undefined;
    const userName = Buffer.from(encoded, 'base64url').toString('utf8');
    if (userName === '' || Buffer.from(userName, 'utf8').toString('base64url') !== encoded) return undefined;
    return sameText(signature, this.#sign(userName)) ? userName : undefined;
  }
}
