export { BandwidthLimit } from './bwlimit.js';
export { parseRemoteSpec, shellQuote, sshExec, type RemoteSpec, type SshEndpoint, type SshOptions } from './ssh.js';
export { checkHostKey, knownHostsName, type HostKeyVerdict } from './known-hosts.js';
