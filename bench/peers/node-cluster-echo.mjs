// Node `cluster` echo server: the node-echo.mjs server run in N workers that
// share one listening port, with round-robin distribution by the primary.
// Usage: node node-cluster-echo.mjs [--workers 2] [--port 0] [--host 127.0.0.1]
// The primary prints "listening <port>" once every worker is listening and
// stops the workers and exits 0 on SIGINT/SIGTERM.
//
// Port 0: in a cluster every worker's listen(0) for the same address maps to
// the same handle in the primary, so the first worker's listen picks a random
// port and the other workers join it (documented Node behaviour). The primary
// checks that all workers report the same port before announcing it.
import cluster from 'node:cluster';
import net from 'node:net';
import { parseArgs } from 'node:util';

// must be set before the first fork
cluster.schedulingPolicy = cluster.SCHED_RR;

function options() {
  try {
    const { values } = parseArgs({
      options: {
        port: { type: 'string', default: '0' },
        host: { type: 'string', default: '127.0.0.1' },
        workers: { type: 'string', default: '2' },
      },
      strict: true,
    });
    const port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`bad option --port: ${values.port}`);
    const workers = Number(values.workers);
    if (!Number.isInteger(workers) || workers < 1 || workers > 256) throw new Error(`bad option --workers: ${values.workers}`);
    return { port, host: values.host, workers };
  } catch (err) {
    console.error(`node-cluster-echo: ${err.message}`);
    process.exit(2);
  }
}

function runWorker() {
  const port = Number(process.env.ECHO_PORT);
  const host = process.env.ECHO_HOST;
  const server = net.createServer({ noDelay: true }, (socket) => {
    socket.setNoDelay(true);
    socket.on('error', () => socket.destroy());
    socket.pipe(socket);
  });
  server.on('error', (err) => {
    console.error(`node-cluster-echo worker ${cluster.worker.id}: ${err.message}`);
    process.exit(1);
  });
  server.listen({ port, host, backlog: 511 }, () => {
    process.send({ type: 'listening', port: server.address().port });
  });
  // SIGINT from a terminal reaches the whole process group: leave it to the
  // primary, which stops the workers with SIGTERM.
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => process.exit(0));
}

function runPrimary() {
  const { port, host, workers } = options();
  let stopping = false;
  let exitCode = 0;
  const ports = new Map();

  const stop = (code) => {
    if (stopping) return;
    stopping = true;
    exitCode = code;
    const alive = Object.values(cluster.workers).filter((w) => w && !w.isDead());
    if (alive.length === 0) process.exit(exitCode);
    for (const w of alive) w.process.kill('SIGTERM');
    setTimeout(() => {
      for (const w of Object.values(cluster.workers)) if (w && !w.isDead()) w.process.kill('SIGKILL');
      process.exit(exitCode);
    }, 3000).unref();
  };

  cluster.on('exit', (worker, code, signal) => {
    if (!stopping) {
      console.error(`node-cluster-echo: worker ${worker.id} exited (code ${code}, signal ${signal})`);
      stop(1);
    }
    if (Object.values(cluster.workers).every((w) => !w || w.isDead())) process.exit(exitCode);
  });

  cluster.on('message', (worker, msg) => {
    if (msg?.type !== 'listening') return;
    ports.set(worker.id, msg.port);
    if (ports.size !== workers) return;
    const distinct = new Set(ports.values());
    if (distinct.size !== 1) {
      console.error(`node-cluster-echo: workers listen on different ports: ${[...distinct].join(', ')}`);
      stop(1);
      return;
    }
    process.stdout.write(`listening ${[...distinct][0]}\n`);
  });

  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => stop(0));

  for (let i = 0; i < workers; i++) {
    cluster.fork({ ECHO_PORT: String(port), ECHO_HOST: host });
  }
}

if (cluster.isPrimary) runPrimary();
else runWorker();
