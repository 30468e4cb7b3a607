// Node `net` echo server (baseline peer).
// Usage: node node-echo.mjs [--port 0] [--host 127.0.0.1]
// Prints "listening <port>" once bound; exits 0 on SIGINT/SIGTERM.
import net from 'node:net';
import { parseArgs } from 'node:util';

function options() {
  try {
    const { values } = parseArgs({
      options: {
        port: { type: 'string', default: '0' },
        host: { type: 'string', default: '127.0.0.1' },
      },
      strict: true,
    });
    const port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`bad option --port: ${values.port}`);
    return { port, host: values.host };
  } catch (err) {
    console.error(`node-echo: ${err.message}`);
    process.exit(2);
  }
}

const { port, host } = options();

const server = net.createServer({ noDelay: true }, (socket) => {
  socket.setNoDelay(true);
  socket.on('error', () => socket.destroy());
  // pipe() pauses reading while the write side is backed up and ends the
  // socket when the peer ends its side, so nothing is lost or reordered.
  socket.pipe(socket);
});

server.on('error', (err) => {
  console.error(`node-echo: ${err.message}`);
  process.exit(1);
});

server.listen({ port, host, backlog: 511 }, () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});

for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
