/**
 * Mocha root hooks (.mocharc.json `require`). Tests that kill a mount daemon
 * with SIGKILL leave its mirror router socket behind; the next daemon would
 * claim it, but a test run must leave nothing behind on the host.
 */
import fs from 'node:fs';
import { alive, ROUTER_SOCKET } from '../../src/control/router.js';

export const mochaHooks = {
  async afterAll(): Promise<void> {
    if (fs.existsSync(ROUTER_SOCKET) && !(await alive(ROUTER_SOCKET))) fs.rmSync(ROUTER_SOCKET, { force: true });
  },
};
