// The baseline server (see ../baseline-yoga.ts) on node:http, loopback only.
import { createServer } from 'node:http';
import { createBaselineYoga } from '../baseline-yoga.ts';

const server = createServer(createBaselineYoga());
server.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
