#!/usr/bin/env node
import { run } from '../cli/main.js';

const code = await run(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr });
// Done: leave even if stdin (a stream we stopped reading) is still open, once
// everything written to stdout has gone out.
process.stdout.write('', () => process.exit(code));
