#!/usr/bin/env node
// Runs every suite (ava, TAP reporter) and ends with one line:
// "N passed, N failed". Exit status is non-zero when anything failed.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// ava exports neither its CLI nor its package.json; it is a root devDependency
const avaDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'node_modules', 'ava');
const avaBin = JSON.parse(readFileSync(join(avaDir, 'package.json'), 'utf8')).bin;
const ava = join(avaDir, typeof avaBin === 'string' ? avaBin : avaBin.ava);
const args = [ava, '--tap', ...process.argv.slice(2)];
const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });

let passed = 0;
let failed = 0;
let skipped = 0;
let buf = '';
child.stdout.on('data', (d) => {
  process.stdout.write(d);
  buf += d;
  let i;
  while ((i = buf.indexOf('\n')) >= 0) {
    const line = buf.slice(0, i);
    buf = buf.slice(i + 1);
    if (/^ok \d+/.test(line)) {
      if (/# SKIP/.test(line)) skipped++;
      else passed++;
    } else if (/^not ok \d+/.test(line)) {
      if (/# TODO/.test(line)) skipped++;
      else failed++;
    }
  }
});
child.on('close', (code, signal) => {
  // ava failing without a "not ok" line (a crashed test file, a timeout) still fails
  if ((code !== 0 || signal) && failed === 0) failed = 1;
  if (skipped) process.stdout.write(`${skipped} skipped\n`);
  process.stdout.write(`${passed} passed, ${failed} failed\n`);
  process.exit(failed ? 1 : 0);
});
