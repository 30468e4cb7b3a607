/**
 * ringleader, the package: the command line as a library. Importing it
 * runs nothing and loads no addon; the `ringleader` executable is bin.ts.
 */
import { loadAddon } from '@ringleader/core-native/addon';
import { commandNeedingAddon, programWithoutAddon } from './no-addon.js';
import { runProgram } from './program.js';

export { type Check, type DoctorReport, diagnose, printReport } from './doctor.js';

/**
 * Run the command line on `argv` (node, script, args...) as the executable
 * does. It may exit the process: usage errors 2, failures 1.
 */
export async function main(argv: string[] = process.argv): Promise<void> {
  const addon = loadAddon();
  if (addon.ok) {
    const { createProgram } = await import('./cli.js');
    return runProgram(createProgram(), argv);
  }
  const command = commandNeedingAddon(argv);
  if (command !== undefined) {
    process.stderr.write(`ringleader: ${command} cannot run: ${addon.reason}; ${addon.fix}\n`);
    process.exit(1);
  }
  return runProgram(programWithoutAddon(addon), argv);
}
