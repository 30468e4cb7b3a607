/**
 * `--config FILE`: the server command's flags in a file, JSON or YAML (by
 * extension: .yaml/.yml are YAML, anything else JSON). Keys are the flags'
 * long names (`max-connections`) or their camelCase (`maxConnections`);
 * values are what the flag takes: numbers or strings such as "5s" and
 * "16KiB" go through the flag's own parser, a repeatable flag (`upstream`)
 * takes a list, an on/off flag (`json`) a boolean. A flag given on the
 * command line overrides the file. Every error names the file and the key
 * path (`upstream[2]: ...`) and exits 2.
 */
import { readFileSync } from 'node:fs';
import type { Command, Option } from 'commander';
import { parse as parseYaml } from 'yaml';
import { parseJson } from './args.js';
import { UsageError, useConfigKeys } from './util.js';

/** The source commander records for a value that came from the file. */
export const CONFIG_SOURCE = 'config';

/** True when the user chose this option: on the command line or in --config. */
export function given(cmd: Command, key: string): boolean {
  const src = cmd.getOptionValueSource(key) as string | undefined;
  return src === 'cli' || src === CONFIG_SOURCE;
}

function readConfig(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`--config ${file}: cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let data: unknown;
  try {
    data = /\.ya?ml$/i.test(file) ? parseYaml(text) : JSON.parse(text);
  } catch (e) {
    throw new UsageError(`--config ${file}: not valid ${/\.ya?ml$/i.test(file) ? 'YAML' : 'JSON'}: ${(e as Error).message.split('\n')[0]}`);
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw new UsageError(`--config ${file}: must hold an object of flag names and values`);
  return data as Record<string, unknown>;
}

/** A flag that may be repeated: its parser collects values into a list. */
function repeatable(o: Option): boolean {
  try {
    return Array.isArray(o.parseArg?.('x', [] as never));
  } catch {
    return false;
  }
}

/** One value through the option's own parser, as if typed after the flag. */
function parseValue(o: Option, v: unknown, where: string, prev: unknown): unknown {
  if (o.negate || (!o.required && !o.optional)) {
    // an on/off flag
    if (typeof v !== 'boolean') throw new UsageError(`${where}: must be true or false; got ${JSON.stringify(v)}`);
    return v;
  }
  if (typeof v !== 'string' && typeof v !== 'number') throw new UsageError(`${where}: must be a string or a number; got ${JSON.stringify(v)}`);
  const text = String(v);
  if (o.argChoices && !o.argChoices.includes(text)) throw new UsageError(`${where}: must be one of ${o.argChoices.join(', ')}; got ${JSON.stringify(v)}`);
  if (!o.parseArg) return text;
  try {
    return o.parseArg(text, prev as never);
  } catch (e) {
    throw new UsageError(`${where}: ${(e as Error).message.replace(/^error: /, '')}`);
  }
}

/**
 * Fold the --config file (if any) into the command's option values; flags
 * from the command line stay as they are.
 */
export function applyConfig(cmd: Command): void {
  const file = cmd.opts<{ config?: string }>().config;
  if (file === undefined) return;
  const data = readConfig(file);
  const byKey = new Map<string, Option>();
  for (const o of cmd.options as Option[]) {
    if (o.hidden || o.long === '--config' || o.long === '--help') continue;
    byKey.set(o.attributeName(), o);
    if (o.long) byKey.set(o.long.slice(2), o);
  }
  // errors found later (the runtime's validation) name these by their key in the file
  const keys = new Map<string, string>();
  for (const [key, v] of Object.entries(data)) {
    const o = byKey.get(key);
    const where = `--config ${file}: ${key}`;
    if (!o) {
      // a deprecated flag's name: the file takes only the new one (its description says which)
      const old = (cmd.options as Option[]).find((x) => x.hidden && x.long === `--${key}`);
      const use = old && /^deprecated: use --(\S+)/.exec(old.description)?.[1];
      if (use) throw new UsageError(`${where}: unknown key (the deprecated --${key}: write ${use})`);
      throw new UsageError(`${where}: unknown key (known: ${[...new Set([...byKey.values()].map((x) => x.long!.slice(2)))].join(', ')})`);
    }
    const name = o.attributeName();
    if (cmd.getOptionValueSource(name) === 'cli') continue;
    let value: unknown;
    if (o.parseArg === parseJson && typeof v === 'object' && v !== null) {
      // a flag that takes JSON takes the structure itself here (upstreamGroups: [...])
      value = v;
    } else if (Array.isArray(v) && repeatable(o)) {
      // each element in turn through the collecting parser
      value = v.reduce((acc: unknown, x, i) => parseValue(o, x, `${where}[${i}]`, acc), undefined);
    } else if (Array.isArray(v)) {
      // a list flag written as a list (weights: [3, 1] for "3,1")
      value = parseValue(o, v.join(','), where, undefined);
    } else {
      value = parseValue(o, v, where, undefined);
    }
    cmd.setOptionValueWithSource(name, value, CONFIG_SOURCE as 'cli');
    if (o.long) keys.set(o.long, key);
  }
  useConfigKeys(file, keys);
}

/**
 * Read the --config file again (SIGHUP): what it set before goes back to
 * the defaults, then the file is folded in as at start-up, flags from the
 * command line still winning. Throws as applyConfig does.
 */
export function reapplyConfig(cmd: Command): void {
  for (const o of cmd.options as Option[]) {
    const name = o.attributeName();
    if (cmd.getOptionValueSource(name) === CONFIG_SOURCE) cmd.setOptionValueWithSource(name, o.defaultValue, 'default');
  }
  applyConfig(cmd);
}
