// Child processes for the bench and soak scripts: start one in its own
// process group with its stdout split into lines, stop it (and whatever it
// started) by its group id, wait for a port, run a command that prints one
// JSON document. Every child is remembered so that an aborted script can
// kill what it started, and only that.
import { spawn } from 'node:child_process';
import net from 'node:net';

/** Children still running. */
export const children = new Set();

/**
 * Start `cmd args` in a new process group. `onLine` gets each stdout line;
 * the last 4,000 characters of stderr are kept for error messages.
 * Resolves nothing itself: `exited` resolves with { code, signal }.
 */
export function launch(cmd, args, { onLine, onErrLine, cwd, env } = {}) {
  const p = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  children.add(p);
  const split = (fn) => {
    let buf = '';
    return (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        fn?.(line);
      }
    };
  };
  let errText = '';
  p.stdout.on('data', split(onLine));
  const errLines = split(onErrLine);
  p.stderr.on('data', (d) => {
    errText = (errText + d).slice(-4000);
    errLines(d);
  });
  const exited = new Promise((r) =>
    p.on('close', (code, signal) => {
      children.delete(p);
      r({ code, signal });
    }),
  );
  return { p, exited, stderr: () => errText };
}

/** Whether a launched process has ended. */
export function ended(h) {
  return h.p.exitCode !== null || h.p.signalCode !== null;
}

/** Signal the process group (the child and what it started), by its id. */
export function signalGroup(p, sig) {
  try {
    process.kill(-p.pid, sig);
  } catch {
    /* gone */
  }
}

/** Ask a process to stop with `sig`; SIGTERM after `termMs` (5 s), SIGKILL 3 s later. */
export async function stopProc(h, sig = 'SIGINT', termMs = 5000) {
  if (ended(h)) return h.exited;
  signalGroup(h.p, sig);
  const t = setTimeout(() => signalGroup(h.p, 'SIGTERM'), termMs);
  const k = setTimeout(() => signalGroup(h.p, 'SIGKILL'), termMs + 3000);
  const r = await h.exited;
  clearTimeout(t);
  clearTimeout(k);
  return r;
}

/** SIGKILL every child still running (for exit and SIGINT handlers). */
export function killChildren() {
  for (const p of children) signalGroup(p, 'SIGKILL');
}

/**
 * Make a script's end kill its children: on exit, SIGINT (130), SIGTERM
 * (143), and when `main` rejects (1, its stack on stderr after `name: `).
 */
export function runMain(name, main) {
  process.on('SIGINT', () => process.exit(130));
  process.on('SIGTERM', () => process.exit(143));
  process.on('exit', killChildren);
  main().catch((e) => {
    process.stderr.write(`${name}: ${e.stack ?? e}\n`);
    process.exit(1);
  });
}

/** A promise that rejects after `ms`, naming what did not happen. */
export function timeout(ms, what) {
  return new Promise((_, rej) => setTimeout(() => rej(new Error(`${what} did not happen within ${ms / 1000} s`)), ms).unref());
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A free loopback port (bound then released). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Wait until 127.0.0.1:port accepts a connection; fails early if `h` exits. */
export async function waitConnectable(port, ms, h) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (h && ended(h)) throw new Error(`exited early: ${h.stderr().trim().split('\n').pop() ?? ''}`);
    const ok = await new Promise((r) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`nothing listening on port ${port} after ${ms / 1000} s`);
}

/**
 * Run a command to its end; its process group is SIGKILLed after `limitMs`.
 * Resolves { code, signal, stdout, stderr } (stderr: its last 4,000 characters).
 */
export async function runCapture(cmd, args, limitMs, o = {}) {
  let stdout = '';
  const h = launch(cmd, args, { ...o, onLine: (l) => (stdout += `${l}\n`) });
  const killer = setTimeout(() => signalGroup(h.p, 'SIGKILL'), limitMs);
  const { code, signal } = await h.exited;
  clearTimeout(killer);
  return { code, signal, stdout, stderr: h.stderr() };
}

/**
 * Run a command that prints one JSON document as its last stdout line;
 * SIGKILLed after `limitMs`. Resolves { code, json }.
 */
export async function runJson(cmd, args, limitMs, o = {}) {
  const { code, signal, stdout, stderr } = await runCapture(cmd, args, limitMs, o);
  const text = stdout.trim();
  try {
    return { code, json: JSON.parse(text.split('\n').pop()) };
  } catch {
    throw new Error(`${cmd} ${args[0] ?? ''} exited ${code ?? signal} without a JSON result: ${stderr.trim().split('\n').slice(-2).join(' ')}`);
  }
}
