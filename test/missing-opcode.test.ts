/**
 * A kernel that lacks an io_uring opcode ringleader needs, simulated with
 * the probe's test hook (RINGLEADER_TEST_HIDE_OPS, read by the TS wrapper
 * of the engine's probe): `ringleader doctor` names the opcode and says not
 * ready; `listen()` and the CLI refuse with an error that names it.
 */
import test from 'ava';
import { createServer } from '@ringleader/runtime';
import { runCli } from './helpers.js';

interface Report {
  ready: boolean;
  checks: { name: string; ok: boolean }[];
  problems: string[];
}

const HIDE = { RINGLEADER_TEST_HIDE_OPS: 'SEND_ZC, IORING_OP_MSG_RING' };

test('doctor names each missing opcode and is not ready', async (t) => {
  const r = await runCli(['doctor', '--json'], 30000, HIDE);
  t.is(r.code, 1, r.stderr);
  const rep = JSON.parse(r.stdout) as Report;
  t.false(rep.ready);
  const failedOps = rep.checks.filter((c) => !c.ok && c.name.startsWith('opcode ')).map((c) => c.name);
  t.deepEqual(failedOps.sort(), ['opcode MSG_RING', 'opcode SEND_ZC'], 'exactly the hidden opcodes fail');
  t.true(
    rep.problems.some((p) => p.includes('IORING_OP_SEND_ZC')),
    rep.problems.join('; '),
  );
  t.true(
    rep.problems.some((p) => p.includes('IORING_OP_MSG_RING')),
    rep.problems.join('; '),
  );

  const human = await runCli(['doctor'], 30000, HIDE);
  t.is(human.code, 1);
  t.regex(human.stdout, /\[FAIL\] opcode SEND_ZC +missing/);
  t.regex(human.stdout, /\[FAIL\] opcode MSG_RING +missing/);
  t.regex(human.stdout, /verdict: NOT ready/);
  t.regex(human.stdout, /opcode SEND_ZC: the kernel lacks IORING_OP_SEND_ZC/);
});

test('doctor without the hook: the same opcodes are supported here', async (t) => {
  // the control for the test above: the failure comes from the hook, not the kernel
  const r = await runCli(['doctor', '--json'], 30000, { RINGLEADER_TEST_HIDE_OPS: '' });
  t.is(r.code, 0, r.stdout);
  const rep = JSON.parse(r.stdout) as Report;
  for (const name of ['opcode SEND_ZC', 'opcode MSG_RING']) {
    t.true(rep.checks.find((c) => c.name === name)?.ok, `${name} supported`);
  }
});

test('listen() refuses with an error naming the missing opcode', async (t) => {
  // the runtime probes once per process, at the first listen(): this file
  // runs in its own process and nothing probed in it before
  process.env.RINGLEADER_TEST_HIDE_OPS = 'SEND_ZC';
  try {
    const server = createServer({ port: 0, workers: 1 });
    const err = await t.throwsAsync(server.listen());
    t.regex(err?.message ?? '', /lacks io_uring operations SEND_ZC\b/);
    t.regex(err?.message ?? '', /ringleader doctor/);
    t.is((err as NodeJS.ErrnoException).code, 'ERR_IO_URING_UNSUPPORTED');
  } finally {
    delete process.env.RINGLEADER_TEST_HIDE_OPS;
  }
});

test('CLI: echo exits 1 naming the missing opcode', async (t) => {
  const r = await runCli(['echo', '--port', '0', '--workers', '1'], 30000, { RINGLEADER_TEST_HIDE_OPS: 'SOCKET' });
  t.is(r.code, 1, r.stdout + r.stderr);
  t.regex(r.stderr, /lacks io_uring operations SOCKET\b/);
  t.notRegex(r.stderr, /\n\s+at /, 'no stack trace');
});
