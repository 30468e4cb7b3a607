#!/usr/bin/env node
// pnpm soak [--quick] [--json] [CHECK ...]
//
// The reliability suite of issue 13: long, bounded runs that prove what
// ringleader promises keeps holding. Each check prints one figure and
// passes or fails against its goal; the script exits 0 when every check
// passed, 1 when one failed, 2 for bad arguments. Everything runs on
// loopback or in network namespaces the script creates (and deletes).
// --quick shrinks every count and duration for a smoke run.
import os from 'node:os';
import { existsSync } from 'node:fs';
import { runMain } from '../lib/proc.mjs';
import cycles from './checks/cycles.mjs';
import idle from './checks/idle.mjs';
import loss from './checks/loss.mjs';
import mixed from './checks/mixed.mjs';
import steady from './checks/steady.mjs';
import verify from './checks/verify.mjs';
import { CLI } from './lib.mjs';

const CHECKS = [idle, cycles, verify, loss, mixed, steady];
const NAMES = CHECKS.map((c) => c.name);

function usage(err) {
  const text = `usage: pnpm soak [--quick] [--json] [${NAMES.join('|')} ...]\n`;
  if (err) {
    process.stderr.write(`soak: ${err}\n${text}`);
    process.exit(2);
  }
  process.stdout.write(`${text}\nchecks:\n${CHECKS.map((c) => `  ${c.name.padEnd(7)} ${c.title}\n          goal: ${c.goal}`).join('\n')}\n`);
  process.exit(0);
}

const opts = { quick: false, json: false, only: [] };
for (const a of process.argv.slice(2)) {
  if (a === '--quick') opts.quick = true;
  else if (a === '--json') opts.json = true;
  else if (a === '--help' || a === '-h') usage(null);
  else if (a.startsWith('-')) usage(`unknown option ${a}`);
  else if (NAMES.includes(a)) opts.only.push(a);
  else usage(`unknown check ${a} (checks: ${NAMES.join(', ')})`);
}

const say = (s) => (opts.json ? process.stderr : process.stdout).write(`${s}\n`);
const load = () =>
  os
    .loadavg()
    .map((v) => v.toFixed(2))
    .join(' ');

async function main() {
  if (!existsSync(CLI)) {
    process.stderr.write('soak: packages/cli/dist/bin.js is missing: run `pnpm build` first\n');
    process.exit(1);
  }
  const chosen = opts.only.length ? CHECKS.filter((c) => opts.only.includes(c.name)) : CHECKS;
  say(`ringleader soak${opts.quick ? ' --quick' : ''}: ${chosen.map((c) => c.name).join(', ')}; ${os.availableParallelism()} CPUs, kernel ${os.release()}, load average ${load()}`);
  const results = [];
  for (const c of chosen) {
    say(`\n[${c.name}] ${c.title}\n  goal: ${c.goal}`);
    const t0 = Date.now();
    const loadBefore = load();
    let r;
    const logged = new Set();
    const log = (s) => {
      logged.add(s);
      say(`  .. ${s}`);
    };
    try {
      r = await c.run({ quick: opts.quick, log });
    } catch (e) {
      r = { figure: 'did not complete', pass: false, details: [e.stack ?? String(e)] };
    }
    const secs = (Date.now() - t0) / 1000;
    for (const d of r.details ?? []) if (!logged.has(d)) say(`  ${d}`);
    say(`  ${r.pass ? 'PASS' : 'FAIL'} ${c.name}: ${r.figure}  (${secs.toFixed(0)} s, load average ${loadBefore} -> ${load()})`);
    results.push({ name: c.name, pass: r.pass, figure: r.figure, details: r.details ?? [], seconds: Math.round(secs), loadavg: load() });
  }
  const failed = results.filter((r) => !r.pass);
  say(`\nsoak: ${results.length - failed.length} passed, ${failed.length} failed${failed.length ? ` (${failed.map((r) => r.name).join(', ')})` : ''}`);
  if (opts.json) process.stdout.write(`${JSON.stringify({ quick: opts.quick, date: new Date().toISOString(), results })}\n`);
  process.exitCode = failed.length ? 1 : 0;
}

runMain('soak', main);
