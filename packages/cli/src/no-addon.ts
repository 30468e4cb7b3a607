/**
 * The command line when the native addon cannot be loaded (no prebuild for
 * this machine and no source build, or a package manager that skipped the
 * install script): --help, --version and doctor still answer, and doctor
 * says why the addon is missing and what to run. Every other command needs
 * the runtime, so it prints that advice in one line and exits 1.
 */
import type { AddonStatus } from '@ringleader/core-native/addon';
import type { Command } from 'commander';
import { registerDoctor } from './doctor.js';
import { baseProgram } from './program.js';

export type AddonMissing = Extract<AddonStatus, { ok: false }>;

/** The program with the commands that work without the addon. */
export function programWithoutAddon(missing: AddonMissing): Command {
  const program = baseProgram();
  registerDoctor(program);
  return program.addHelpText('after', `\nOnly doctor works here: ${missing.reason}.\nTo get the other commands, ${missing.fix}.`);
}

/** The command `argv` names when it needs the addon (anything but doctor and help), else undefined. */
export function commandNeedingAddon(argv: string[]): string | undefined {
  const name = argv.slice(2).find((a) => !a.startsWith('-'));
  return name === undefined || name === 'doctor' || name === 'help' ? undefined : name;
}
