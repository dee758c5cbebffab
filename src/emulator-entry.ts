/**
 * `@feat/sdk/emulator` (Node only): the backend emulator — `startEmulator` and its types — as the public contract
 * names it, re-exported from its own package, `@feat/emulator`: an optional peer dependency, so that an app's install
 * carries none of its server packages (express, express-pouchdb, leveldb). Install it where it runs — tests, local
 * development: `npm i -D @feat/emulator` (its bin: `npx feat-emulator`). No browser entry reaches this module.
 */
export * from '@feat/emulator';
