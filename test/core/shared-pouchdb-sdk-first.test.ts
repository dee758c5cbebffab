/**
 * The SDK syncs before the app registers pouchdb-replication on the shared pouchdb-core class: the app's registration
 * does not fail ("Cannot redefine property: replicate" when the SDK registered it on the class) and both keep working.
 * (test/core/shared-pouchdb-app-first.test.ts: the other order.)
 */
import { expect, it } from 'vitest';
import { useEmulator, uniqueUser } from '../support/backend.js';
import { appReplicates, readyClient, registerAppPlugins, sdkSyncs } from '../support/app-pouchdb.js';

const emu = useEmulator();

it("the SDK's local-first sync first, then the app's PouchDB plugins: both replicate", async () => {
  const user = uniqueUser('sdk-first');
  const [laptop, phone] = [await readyClient(emu, user), await readyClient(emu, user)];
  await sdkSyncs(laptop, phone, 'before');
  await expect(registerAppPlugins()).resolves.toBeUndefined();
  await appReplicates();
  await sdkSyncs(phone, laptop, 'after');
});
