/**
 * The seed profile's floor: a node:http server that reads each request and answers 200 with
 * `{}`, storing nothing. What the paced generator measures against it is the cost of the
 * generator, the loopback and Node's HTTP on this machine, which no server can go below.
 */
import { createServer } from 'node:http';

const server = createServer((request, response) => {
  request.resume();
  request.on('end', () =>
    response
      .writeHead(200, {
        'content-type': 'application/json',
        'content-length': '2',
      })
      .end('{}'),
  );
});
server.listen(Number(process.env.PORT ?? 3002), '127.0.0.1', () =>
  process.send?.('ready'),
);
