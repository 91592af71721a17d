export { Vfs, BLOCK_SIZE, DEFAULT_DIRTY_MAX, ROOT_OBJ, type Attr, type StatFs, type Node, type VfsOptions } from './vfs.js';
export { parseComponent, splitPath, splitParent, type Component } from './path.js';
export { PfsAdmin, parsePfsOptions, type PfsOptions, type PfsStatus } from './pfs-admin.js';
