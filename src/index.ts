// Library entry: the store, the VFS and TID helpers, with no side effects.
export * from './tid.js';
export { H2Error, isH2Error } from './errors.js';
export * from './store/index.js';
export * from './vfs/index.js';
