/**
 * `ringleader doctor`: what this kernel and process offer, and a plain
 * verdict with what to change.
 */
import { release } from 'node:os';
import type { Command } from 'commander';
import { loadAddon } from '@ringleader/core-native/addon';
import { hasCapIpcLock, rlimit, sysctl } from '@ringleader/runtime/limits';

export interface Check {
  name: string;
  value: string;
  ok: boolean;
  /** false: a problem that stops ringleader; true: only a limitation */
  advisory?: boolean;
  fix?: string;
}

export interface DoctorReport {
  ready: boolean;
  checks: Check[];
  problems: string[];
  notes: string[];
}

function kernelAtLeast(rel: string, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(rel);
  if (!m) return false;
  const a = Number(m[1]);
  const b = Number(m[2]);
  return a > major || (a === major && b >= minor);
}

export async function diagnose(): Promise<DoctorReport> {
  const checks: Check[] = [];
  const rel = release();
  checks.push({
    name: 'kernel',
    value: rel,
    ok: kernelAtLeast(rel, 6, 0),
    fix: 'ringleader needs Linux >= 6.0 (msg_ring fd passing, socket/send_zc opcodes); upgrade the kernel',
  });
  const slices = kernelAtLeast(rel, 6, 12);
  checks.push({
    name: 'worker scheduling slice',
    value: slices ? 'honoured (EEVDF custom slices)' : 'ignored by this kernel',
    ok: true,
    advisory: !slices,
    fix: slices ? undefined : '--worker-slice needs Linux >= 6.12; until then a worker sharing a CPU with the acceptor waits out its turn (hand-off p50 about 2x longer)',
  });
  const disabled = sysctl('kernel/io_uring_disabled');
  // 1: only root (CAP_SYS_ADMIN) and members of kernel.io_uring_group may create rings
  const group = sysctl('kernel/io_uring_group');
  const inGroup = process.getuid?.() === 0 || (group !== undefined && group >= 0 && (process.getegid?.() === group || (process.getgroups?.() ?? []).includes(group)));
  checks.push({
    name: 'kernel.io_uring_disabled',
    value:
      disabled === undefined
        ? 'not present (older kernel: enabled)'
        : disabled === 1
          ? `1 (${inGroup ? 'this user may' : 'this user is not root and not in kernel.io_uring_group'}${group !== undefined ? `, group ${group}` : ''})`
          : String(disabled),
    ok: disabled === undefined || disabled === 0 || (disabled === 1 && inGroup),
    fix: 'io_uring is disabled for this user: run `sysctl -w kernel.io_uring_disabled=0`, or keep 1 and add this user to the group kernel.io_uring_group names (`sysctl -w kernel.io_uring_group=GID`)',
  });
  // the runtime loads the addon as it is imported: import it only when the addon is there
  const addon = loadAddon();
  let zcNeed = 0;
  if (addon.ok) {
    checks.push({ name: 'native addon', value: addon.path.includes('/prebuilds/') ? 'prebuilt' : 'built from source', ok: true });
    checks.push(...ioUringChecks(await import('@ringleader/runtime/internal')));
    const { SERVER_DEFAULTS } = await import('@ringleader/runtime');
    // a worker's receive buffers at their default size, plus its ring
    zcNeed = SERVER_DEFAULTS.bufferCount * SERVER_DEFAULTS.bufferSize + (1 << 20);
  } else {
    checks.push({ name: 'native addon', value: 'missing', ok: false, fix: `${addon.reason}; ${addon.fix}` });
  }
  const nofile = rlimit('Max open files');
  const nofileOk = !nofile || nofile.soft >= 8192;
  checks.push({
    name: 'RLIMIT_NOFILE',
    value: nofile ? `${nofile.soft} (hard ${nofile.hard})` : 'unknown',
    ok: true,
    advisory: !nofileOk,
    fix: nofileOk ? undefined : `fixed-file tables are capped at ${nofile?.soft} slots per ring; raise it with \`ulimit -n 65536\``,
  });
  // Without CAP_IPC_LOCK the kernel charges ring memory and registered buffers
  // to RLIMIT_MEMLOCK (measured: rings fail below ~1 MiB; the 16 MiB receive
  // buffer region registered for send_zc needs that much more).
  const memlock = rlimit('Max locked memory');
  const privileged = hasCapIpcLock();
  const ml = memlock?.soft ?? Infinity;
  checks.push({
    name: 'RLIMIT_MEMLOCK',
    value: memlock ? `${Number.isFinite(memlock.soft) ? `${Math.round(memlock.soft / 1024)} KiB` : 'unlimited'}${privileged ? ' (not enforced: this process has CAP_IPC_LOCK)' : ''}` : 'unknown',
    ok: privileged || ml >= 1 << 20,
    advisory: !privileged && ml < zcNeed,
    fix: privileged
      ? undefined
      : ml < 1 << 20
        ? 'io_uring rings are charged to it and cannot be created: raise it to at least 1 MiB per worker (ulimit -l)'
        : ml < zcNeed
          ? `zero-copy sends need the receive buffers registered (${Math.round(zcNeed / 1048576)} MiB per worker by default); below that they fall back to plain send (ulimit -l)`
          : undefined,
  });
  const somax = sysctl('net/core/somaxconn');
  checks.push({
    name: 'net.core.somaxconn',
    value: somax === undefined ? 'unknown' : String(somax),
    ok: true,
    advisory: somax !== undefined && somax < 511,
    fix: somax !== undefined && somax < 511 ? 'the listen backlog is capped by it; bursts wait in a shorter queue: sysctl -w net.core.somaxconn=4096' : undefined,
  });
  checks.push({ name: 'node', value: process.version, ok: true });
  const reducerOff = process.execArgv.includes('--no-memory-reducer');
  checks.push({
    name: 'V8 memory reducer',
    value: reducerOff ? 'off' : 'on in the main thread',
    ok: true,
    advisory: !reducerOff,
    fix: reducerOff ? undefined : 'its collections ~8 s after start delay a worker sharing the CPU (open-loop p999 2.3 ms instead of 1.2): run the `ringleader` command, or `node --no-memory-reducer`',
  });

  const problems = checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.fix ?? 'not usable'}`);
  const notes = checks.filter((c) => c.ok && c.advisory && c.fix).map((c) => `${c.name}: ${c.fix}`);
  return { ready: problems.length === 0, checks, problems, notes };
}

/** What io_uring offers, as the addon probes it. */
function ioUringChecks(rt: typeof import('@ringleader/runtime/internal')): Check[] {
  const { errnoName } = rt;
  const checks: Check[] = [];
  const p = rt.probe();
  if (p.setupError < 0) {
    const code = errnoName(p.setupError);
    const why =
      code === 'ENOSYS'
        ? 'the kernel has no io_uring (CONFIG_IO_URING=n)'
        : code === 'EPERM'
          ? 'io_uring_setup was refused: kernel.io_uring_disabled, or a seccomp profile (containers often block io_uring)'
          : `io_uring_setup failed with ${code}`;
    checks.push({ name: 'io_uring_setup', value: code, ok: false, fix: why });
  } else {
    // a small probe ring: whether the server's larger rings fit the
    // locked-memory limit is its own check (RLIMIT_MEMLOCK)
    checks.push({ name: 'io_uring_setup', value: 'ok (a small probe ring)', ok: true });
    for (const [op, ok] of Object.entries(p.ops)) {
      checks.push({ name: `opcode ${op}`, value: ok ? 'supported' : 'missing', ok, fix: `the kernel lacks IORING_OP_${op}; upgrade to Linux >= 6.0` });
    }
    checks.push({ name: 'msg_ring fd passing', value: p.msgRingFd ? 'works' : `fails (${errnoName(p.msgRingFdError)})`, ok: p.msgRingFd, fix: 'IORING_MSG_SEND_FD needs Linux >= 6.0' });
    checks.push({ name: 'provided buffer rings', value: p.bufRing ? 'supported' : 'missing', ok: p.bufRing, fix: 'IORING_REGISTER_PBUF_RING needs Linux >= 5.19' });
    checks.push({ name: 'sparse fixed-file tables', value: p.sparseFiles ? 'supported' : 'missing', ok: p.sparseFiles, fix: 'needs Linux >= 5.19' });
    checks.push({ name: 'IORING_SETUP_SINGLE_ISSUER', value: p.singleIssuer ? 'supported' : 'missing', ok: true, advisory: !p.singleIssuer });
    checks.push({ name: 'IORING_SETUP_DEFER_TASKRUN', value: p.deferTaskrun ? 'supported' : 'missing (falls back to COOP_TASKRUN)', ok: true, advisory: !p.deferTaskrun });
    checks.push({
      name: 'socket setsockopt via uring_cmd',
      value: p.sockCmdSetsockopt ? 'supported' : 'missing',
      ok: true,
      advisory: !p.sockCmdSetsockopt,
      fix: p.sockCmdSetsockopt ? undefined : "overflow: 'reject' closes with FIN instead of RST (needs Linux >= 6.7)",
    });
    const capUnknown = !p.recvCap && p.recvCapError !== 0;
    checks.push({
      name: 'multishot recv with a byte cap',
      value: p.recvCap ? 'supported' : capUnknown ? `unknown (the probe failed: ${errnoName(p.recvCapError)})` : 'missing',
      ok: true,
      advisory: !p.recvCap,
      fix: p.recvCap
        ? undefined
        : capUnknown
          ? `the probe's ring could not be set up (${errnoName(p.recvCapError)}${p.recvCapError === -12 ? ': RLIMIT_MEMLOCK, see its line' : ''}); without the cap the proxy receives one buffer at a time`
          : 'the proxy receives one buffer at a time, about 12% more CPU per small message (needs Linux >= 6.17)',
    });
  }
  checks.push({ name: 'liburing (built against)', value: rt.versions.liburing, ok: true });
  return checks;
}

export function printReport(r: DoctorReport, json: boolean): void {
  if (json) {
    process.stdout.write(JSON.stringify(r, null, 2) + '\n');
    return;
  }
  const w = Math.max(...r.checks.map((c) => c.name.length));
  for (const c of r.checks) {
    const mark = !c.ok ? 'FAIL' : c.advisory ? 'note' : ' ok ';
    process.stdout.write(`  [${mark}] ${c.name.padEnd(w)}  ${c.value}\n`);
  }
  process.stdout.write('\n');
  if (r.ready) {
    process.stdout.write('verdict: ready. ringleader can run on this system.\n');
  } else {
    process.stdout.write('verdict: NOT ready. Change this first:\n');
    for (const p of r.problems) process.stdout.write(`  - ${p}\n`);
  }
  if (r.notes.length) {
    process.stdout.write('notes:\n');
    for (const n of r.notes) process.stdout.write(`  - ${n}\n`);
  }
}

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('check that this kernel and process can run ringleader, and say what to change')
    .option('--json', 'machine-readable report', false)
    .addHelpText(
      'after',
      `
Examples:
  ringleader doctor
  ringleader doctor --json | jq .problems

Exit status: 0 ready (notes may still name limits worth raising); 1 not ready: the report
says what to change first.`,
    )
    .action(async (f: { json: boolean }) => {
      const r = await diagnose();
      printReport(r, f.json);
      process.exitCode = r.ready ? 0 : 1;
    });
}
