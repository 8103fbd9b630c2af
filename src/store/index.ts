export * from './documents.js';
export * from './store.js';
export { FsStore, type FsStoreOptions } from './fs-store.js';
export { createExclusive, replaceFile, fsyncDir } from './atomic-file.js';
export * from './layout.js';
