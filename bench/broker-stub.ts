// The floor for `npm run bench:broker`: a bare node:http server that allows everything the
// broker asks (user, vhost, resource, topic), with nothing else in the way. Same process shape
// as voke-auth's bench child: prints {port} as one JSON line; a `cpu` line on stdin is answered
// with {cpu: process.cpuUsage()}; exits on SIGTERM or when stdin closes. With BENCH_TLS_DIR (the files
// generateAuthTlsCerts writes), node:https with the broker's client certificate required, as
// voke-auth's listener is configured over HTTPS: the ceiling of any HTTPS backend.
import { readFileSync } from 'node:fs';
import http, { type RequestListener } from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import { serveParent } from './children.js';

const TLS_DIR = process.env.BENCH_TLS_DIR;
const allow: RequestListener = (req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('allow');
  });
};
const server = TLS_DIR
  ? https.createServer(
      {
        cert: readFileSync(join(TLS_DIR, 'voke-auth.pem')),
        key: readFileSync(join(TLS_DIR, 'voke-auth-key.pem')),
        ca: readFileSync(join(TLS_DIR, 'ca.pem')),
        requestCert: true,
        rejectUnauthorized: true,
      },
      allow,
    )
  : http.createServer(allow);
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as { port: number };
  process.stdout.write(`${JSON.stringify({ port })}\n`);
});
serveParent(() => process.exit(0));
