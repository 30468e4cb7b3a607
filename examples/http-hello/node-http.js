// The same "hello" service on node:http, for comparison (bench/js-handler.mjs).
//   node examples/http-hello/node-http.js [port]   prints "listening <port>"
import http from 'node:http';

const BODY = 'Hello, World!';
const server = http.createServer((_req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': BODY.length });
  res.end(BODY);
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  });
}
