/** Shared helpers of the emulator tests: plain fetch calls as a client of the deployment would make them. */
import type { Emulator } from '@feat/emulator';
import { userDbName } from '@feat/emulator';

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
}

export async function call(url: string, init: RequestInit = {}): Promise<Reply> {
  const res = await fetch(url, init);
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** The `{data:{headers,dbname}}` the accounts service returns for `user`. */
export async function tokenFor(emu: Emulator, user: string): Promise<{ headers: Record<string, string>; dbname: string }> {
  const reply = await call(`${emu.accountsUrl}/couchdb/token/`, { headers: { Authorization: emu.bearerFor(user) } });
  if (reply.status !== 200) throw new Error(`token endpoint answered ${reply.status}: ${reply.text}`);
  return (reply.json as { data: { headers: Record<string, string>; dbname: string } }).data;
}

/** A CouchDB request with `user`'s proxy headers (from the accounts service). */
export async function couch(
  emu: Emulator,
  user: string,
  path: string,
  init: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const { headers } = await tokenFor(emu, user);
  const body = init.body === undefined ? undefined : typeof init.body === 'string' ? init.body : JSON.stringify(init.body);
  return call(`${emu.couchUrl}${path}`, {
    method: init.method ?? 'GET',
    headers: { ...headers, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), ...init.headers },
    ...(body === undefined ? {} : { body }),
  });
}

/** Signs `user` up as the seed's example does and waits until their database answers. */
export async function signUp(emu: Emulator, user: string): Promise<string> {
  const created = await couch(emu, user, `/_users/org.couchdb.user:${encodeURIComponent(user)}`, {
    method: 'PUT',
    body: { _id: `org.couchdb.user:${user}`, name: user, roles: [], type: 'user' },
  });
  // 409: the user exists (the real server keeps its users from one run to the next).
  if (created.status !== 201 && created.status !== 409) throw new Error(`sign-up answered ${created.status}: ${created.text}`);
  const db = userDbName(user);
  for (let i = 0; i < 100; i += 1) {
    if ((await couch(emu, user, `/${db}`)).status === 200) return db;
    await sleep(10);
  }
  throw new Error(`database ${db} never appeared`);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

let counter = 0;
/** A name no other test uses (for client-side memory databases and users). */
export function unique(prefix: string): string {
  counter += 1;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter}`;
}
