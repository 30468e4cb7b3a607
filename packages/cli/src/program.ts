/**
 * The `ringleader` program without its commands, and how it runs: shared by
 * the full command line (cli.ts) and the one without the addon (no-addon.ts).
 * Imports nothing that loads the addon.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { die, jsonErrorsWanted, stderrLine } from './util.js';

// the version is the package's own (dist/program.js -> ../package.json)
const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

/** The program's name, version, description and help text; commands are registered on it. */
export function baseProgram(): Command {
  return new Command()
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
    .configureOutput({ writeErr });
}

/** commander's error lines, as `ringleader: error: ...`, or under --json as one JSON record (its help hint left out) */
function writeErr(s: string): void {
  if (!jsonErrorsWanted()) process.stderr.write(s.startsWith('error:') ? `ringleader: ${s}` : s);
  else if (s.startsWith('error:')) stderrLine(60, s.trim(), { exitCode: 2 });
}

/** Parse `argv` and run the command; exits 2 on bad usage, 1 on failure (one line, no stack). */
export async function runProgram(program: Command, argv: string[]): Promise<void> {
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and version exit 0; usage errors exit 2
      process.exit(e.exitCode === 0 ? 0 : 2);
    }
    die(e);
  }
}
