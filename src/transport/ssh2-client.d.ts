// ssh2's client alone: the package's index also loads its server, SFTP
// and agent code, some 10 ms of start-up that a mirror round never uses.
declare module 'ssh2/lib/client.js' {
  import type { Client } from 'ssh2';
  const ClientCtor: typeof Client;
  export default ClientCtor;
}
