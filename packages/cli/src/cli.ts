#!/usr/bin/env node
/**
 * ringleader: the command line. Each command lives in its own module and
 * registers itself here.
 */
import { Command, CommanderError } from 'commander';
import { registerDemo } from './demo.js';
import { registerDoctor } from './doctor.js';
import { registerEcho } from './echo.js';
import { registerProxy } from './proxy.js';
import { registerStress } from './stress.js';
import { registerServe } from './serve.js';
import { die } from './util.js';

const program = new Command();
program
  .name('ringleader')
  .description('Multi-ring io_uring runtime for Node.js: sharded TCP servers, proxy, load generation')
  .version('0.1.0')
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
