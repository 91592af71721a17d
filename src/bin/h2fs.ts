#!/usr/bin/env node
import { run } from '../cli/main.js';

// Whoever reads our stdout went away (`| head`): stop quietly, as cat does.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(141);
});

const code = await run(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr });
// Done: leave even if stdin (a stream we stopped reading) is still open, once
// everything written to stdout has gone out.
process.stdout.write('', () => process.exit(code));
