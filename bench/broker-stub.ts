// The floor for `npm run bench:broker`: a bare node:http server that allows everything the
// broker asks (user, vhost, resource, topic), with nothing else in the way. Same process shape
// as voke-auth's bench child: prints {port} as one JSON line; a `cpu` line on stdin is answered
// with {cpu: process.cpuUsage()}; exits when stdin closes.
import http from 'node:http';
import { createInterface } from 'node:readline';

const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('allow');
  });
});
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as { port: number };
  process.stdout.write(`${JSON.stringify({ port })}\n`);
});
createInterface({ input: process.stdin })
  .on('line', (line) => {
    if (line === 'cpu') process.stdout.write(`${JSON.stringify({ cpu: process.cpuUsage() })}\n`);
  })
  .on('close', () => process.exit(0));
