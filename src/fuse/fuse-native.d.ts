// Minimal typing of the parts of fuse-native that h2fs uses.
declare module 'fuse-native' {
  type Cb = (...args: unknown[]) => void;
  interface FuseOpts {
    force?: boolean;
    mkdir?: boolean;
    allowOther?: boolean;
    defaultPermissions?: boolean;
    autoUnmount?: boolean;
    fsname?: string;
    subtype?: string;
    debug?: boolean;
    timeout?: number | false;
    maxRead?: number;
  }
  class Fuse {
    constructor(mnt: string, ops: Record<string, (...args: never[]) => void>, opts?: FuseOpts);
    mnt: string;
    opts: FuseOpts;
    ops: Record<string, (...args: never[]) => void>;
    mount(cb: (err: Error | null) => void): void;
    protected _fuseOptions(): string;
    static ENOENT: number;
  }
  export = Fuse;
}
