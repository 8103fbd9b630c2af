export * from './documents.js';
export * from './store.js';
export { FsStore, type FsStoreOptions } from './fs-store.js';
export { createExclusive, replaceFile, fsyncDir } from './atomic-file.js';
export * from './layout.js';
export { openStore, parseStoreOption, StoreSpecError, type StoreSpec, type StoreTls } from './open-store.js';
export { loadStoreConfig, parseStoreConfig } from './store-config.js';
