#!/usr/bin/env node
/**
 * ringleader: the command line. Each command lives in its own module and
 * registers itself here.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { registerDemo } from './demo.js';
import { registerDoctor } from './doctor.js';
import { registerEcho } from './echo.js';
import { registerProxy } from './proxy.js';
import { registerStress } from './stress.js';
import { registerServe } from './serve.js';
import { die } from './util.js';

// the version is the package's own (dist/cli.js -> ../package.json)
const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command();
program
  .name('ringleader')
  .description('Multi-ring io_uring runtime for Node.js: sharded TCP servers, proxy, load generation')
  .version(version, '-v, --version', 'print the version')
  .addHelpText(
    'after',
    `
Examples:
  ringleader doctor                              can ringleader run here?
  ringleader echo --port 7000                    a sharded echo server
  ringleader stress 127.0.0.1:7000 -c 100 -d 10s verified load against it
  ringleader demo                                both at once, with the result

Exit status: 0 success; 1 runtime failure; 2 bad options (see each command's --help).`,
  )
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride()
  .configureOutput({ writeErr: (s) => process.stderr.write(s.startsWith('error:') ? `ringleader: ${s}` : s) });

registerEcho(program);
registerProxy(program);
registerServe(program);
registerDoctor(program);
registerDemo(program);
registerStress(program);

async function main(): Promise<void> {
  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and version exit 0; usage errors exit 2
      process.exit(e.exitCode === 0 ? 0 : 2);
    }
    die(e);
  }
}

main();
