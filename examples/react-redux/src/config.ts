/**
 * Where the app finds its backend. `npm run example` serves `/config.json?user=<name>` (the emulator's URLs and a bearer
 * for that user, standing in for a login); the same values can also be given in the page's query string:
 * `?user=alice&device=laptop[&couchUrl=…&accountsUrl=…&bearer=…]`.
 */
export interface AppConfig {
  couchUrl: string;
  accountsUrl: string;
  /** An `Authorization` value for the accounts service, e.g. `Bearer …`. */
  auth: string;
  user: string;
  /** Names this browser's local replica, so two tabs with different devices act as two devices. */
  device: string;
}

export async function loadConfig(location: Location = window.location): Promise<AppConfig> {
  const query = new URLSearchParams(location.search);
  const user = query.get('user') || 'alice';
  const device = query.get('device') || 'browser';
  const couchUrl = query.get('couchUrl');
  const accountsUrl = query.get('accountsUrl');
  const bearer = query.get('bearer');
  if (couchUrl && accountsUrl && bearer) return { couchUrl, accountsUrl, auth: bearer, user, device };
  const response = await fetch(`/config.json?user=${encodeURIComponent(user)}`);
  if (!response.ok) throw new Error(`GET /config.json answered ${response.status}`);
  const served = (await response.json()) as Pick<AppConfig, 'couchUrl' | 'accountsUrl' | 'auth'>;
  return { ...served, user, device };
}
