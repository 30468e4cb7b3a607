/**
 * systemd's side of a service, without libsystemd: socket activation
 * (sd_listen_fds(3): LISTEN_FDS / LISTEN_PID, descriptors from 3 on) and
 * readiness notification (sd_notify(3): NOTIFY_SOCKET). The datagram is
 * sent by the addon, because Node's dgram module has no unix datagram
 * sockets.
 */
import { errnoError, sdNotify as nativeNotify } from '@ringleader/core-native';

/** The first descriptor systemd passes (SD_LISTEN_FDS_START). */
export const LISTEN_FDS_START = 3;

/**
 * The listening sockets systemd passed to this process, as descriptors (3,
 * 4, ...); empty when LISTEN_PID is not this process or LISTEN_FDS is
 * unset. Like sd_listen_fds(1) it unsets the variables, so a child does
 * not take the sockets for its own.
 */
export function listenFds(env: NodeJS.ProcessEnv = process.env): number[] {
  const pid = Number(env.LISTEN_PID);
  const n = Number(env.LISTEN_FDS);
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
  if (!Number.isInteger(pid) || pid !== process.pid || !Number.isInteger(n) || n < 1) return [];
  return Array.from({ length: n }, (_, i) => LISTEN_FDS_START + i);
}

/**
 * Tell the service manager `state` ("READY=1", "STOPPING=1",
 * "STATUS=serving", several joined by newlines). Returns false when
 * NOTIFY_SOCKET is not set (not run by systemd with Type=notify); throws a
 * system error when the datagram cannot be sent.
 */
export function sdNotify(state: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const path = env.NOTIFY_SOCKET;
  if (!path) return false;
  const r = nativeNotify(path, state);
  if (r < 0) throw errnoError(r, 'sendto');
  return true;
}
