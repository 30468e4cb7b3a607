/**
 * ringleader: the command line with every command. Each command lives in
 * its own module and registers itself here. The commands import the
 * runtime, which loads the native addon as it is imported, so this module
 * is imported only once the addon has loaded (see index.ts).
 */
import type { Command } from 'commander';
import { registerDemo } from './demo.js';
import { registerDoctor } from './doctor.js';
import { registerEcho } from './echo.js';
import { registerProxy } from './proxy.js';
import { registerStress } from './stress.js';
import { registerServe } from './serve.js';
import { baseProgram } from './program.js';

/** The full program. */
export function createProgram(): Command {
  const program = baseProgram();
  registerEcho(program);
  registerProxy(program);
  registerServe(program);
  registerDoctor(program);
  registerDemo(program);
  registerStress(program);
  return program;
}
