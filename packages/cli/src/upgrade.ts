/**
 * SIGUSR2: a process-level upgrade, as HAProxy's `-x` and Envoy's hot
 * restart do it. This process starts a new one of the current binary (same
 * node, script and arguments) that serves the same listening sockets,
 * every one of them, inherited as fd 3, 4, ... (RINGLEADER_LISTEN_FDS says
 * how many, as systemd's LISTEN_FDS). Both accept until the new one
 * reports ready over IPC; then this one stops accepting, drains for
 * --drain and exits, and tells systemd the new MAINPID. Connections in
 * the socket's backlog are taken by whichever process accepts next: none
 * is refused. If the new process exits before it is ready, or is not
 * ready within the start timeout plus READY_GRACE_MS (then it is stopped),
 * this one goes on serving, with its admin endpoint back. A stop signal
 * while the new process starts stops it too: a stopped service leaves no
 * server behind.
 *
 * The admin endpoint's port moves with it: it is closed here before the
 * new process starts (which binds it), so /metrics is briefly unavailable.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { LISTEN_FDS_START, type Server } from '@ringleader/runtime';
import type { Logger } from 'pino';

/** Set in the new process's environment: report readiness over IPC. */
const UPGRADE_ENV = 'RINGLEADER_UPGRADE';
/** Set with it: how many listening sockets it inherits, from fd 3 on. */
const FDS_ENV = 'RINGLEADER_LISTEN_FDS';
/** Beyond the server's start timeout, how long the new process may take to report ready (its own start-up) */
const READY_GRACE_MS = 10_000;
/** After SIGTERM, how long a new process that is given up on may take to exit before SIGKILL */
const KILL_GRACE_MS = 3000;

export interface UpgradeHost {
  log: Logger;
  notify(state: string): void;
  /** drain and exit, as for SIGTERM */
  stop(reason: string): void;
  /** an event for the JSON lines / live display */
  event(name: string, fields: Record<string, unknown>): void;
}

/** This process's arguments with its own --fd dropped: the new one is told its sockets by FDS_ENV. */
function childArgs(): string[] {
  const out: string[] = [];
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--fd') i++;
    else if (!argv[i].startsWith('--fd=')) out.push(argv[i]);
  }
  return [...process.execArgv, process.argv[1], ...out];
}

/**
 * In the new process of an upgrade: the listening sockets it inherited
 * (3, 4, ...), or undefined when it is not one. Taken out of the
 * environment, so a child of it does not take them for its own.
 */
export function upgradeFds(env: NodeJS.ProcessEnv = process.env): number[] | undefined {
  const n = Number(env[FDS_ENV]);
  delete env[FDS_ENV];
  if (env[UPGRADE_ENV] !== '1' || !Number.isInteger(n) || n < 1) return undefined;
  return Array.from({ length: n }, (_, i) => LISTEN_FDS_START + i);
}

/** stop a new process that is given up on: SIGTERM, then SIGKILL if it lingers */
function giveUp(c: ChildProcess): void {
  c.kill('SIGTERM');
  const t = setTimeout(() => c.kill('SIGKILL'), KILL_GRACE_MS);
  t.unref();
  c.once('exit', () => clearTimeout(t));
}

/**
 * Upgrade on SIGUSR2 until the returned function is called. Calling it
 * while a new process is starting (a stop signal arrived) stops that
 * process: only a process that reported ready carries on.
 */
export function onUpgradeSignal(server: Server, h: UpgradeHost): () => void {
  let child: ChildProcess | undefined;
  let ready = false;
  let stopped = false;
  const handler = async () => {
    if (child) return h.log.warn('SIGUSR2: an upgrade is already under way');
    let fds: number[];
    try {
      fds = server.listenerFds();
    } catch (e) {
      return h.log.error({ err: e }, `SIGUSR2: cannot upgrade: ${(e as Error).message}`);
    }
    await server.closeAdmin();
    if (stopped) return;
    h.log.info(`SIGUSR2: starting the new process on the listening socket${fds.length > 1 ? 's' : ''}`);
    // the sockets land on fd 3, 4, ... of the new process; the IPC channel after them
    const c = spawn(process.execPath, childArgs(), {
      stdio: ['ignore', 'inherit', 'inherit', ...fds, 'ipc'],
      env: { ...process.env, [UPGRADE_ENV]: '1', [FDS_ENV]: String(fds.length) },
    });
    child = c;
    ready = false;
    let why = '';
    const readyMs = server.options.startTimeout + READY_GRACE_MS;
    const timer = setTimeout(() => {
      why = `was not ready within ${readyMs} ms and was stopped`;
      giveUp(c);
    }, readyMs);
    c.on('message', (m: { ringleader?: string }) => {
      if (m?.ringleader !== 'ready' || ready || stopped) return;
      ready = true;
      clearTimeout(timer);
      c.disconnect();
      c.unref();
      h.notify(`MAINPID=${c.pid}\nREADY=1\nSTATUS=upgraded to process ${c.pid}`);
      h.event('upgrade', { pid: c.pid });
      h.stop('SIGUSR2');
    });
    c.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (ready) return;
      child = undefined;
      if (stopped) return void h.log.info(`SIGUSR2: the new process stopped (${signal ?? `code ${code}`}) with this one`);
      // the port is free again: this process keeps its admin endpoint (probes, scrapes)
      server.openAdmin().then(
        () => h.log.error(`SIGUSR2: the new process ${why || `exited (${signal ?? `code ${code}`}) before it was ready`}; this one goes on serving`),
        (e: Error) => h.log.error(`SIGUSR2: the new process ${why || `exited (${signal ?? `code ${code}`}) before it was ready`}; this one goes on serving, without its admin endpoint (${e.message})`),
      );
    });
  };
  process.on('SIGUSR2', handler);
  return () => {
    process.off('SIGUSR2', handler);
    stopped = true;
    // stopping while the new process starts: it must not go on serving alone
    if (child && !ready) {
      h.log.info(`stopping: the new process ${child.pid} of the upgrade under way is stopped too`);
      giveUp(child);
    }
  };
}

/** In the new process of an upgrade: tell the old one this one serves. */
export function reportUpgradeReady(): void {
  if (process.env[UPGRADE_ENV] !== '1' || !process.send) return;
  delete process.env[UPGRADE_ENV];
  process.send({ ringleader: 'ready', pid: process.pid });
  process.disconnect();
}
