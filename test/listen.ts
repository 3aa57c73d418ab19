// Puts a Keyscope app behind node:http on 127.0.0.1 and a free port, as src/main.ts does,
// for tests that need a real socket: a browser, a generated client, several instances.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { KeyscopeApp } from '../src/app.ts';

export interface Listening {
  /** `http://127.0.0.1:<port>` */
  origin: string;
  /** `<origin>/graphql` */
  graphqlUrl: string;
  close(): Promise<void>;
}

export async function listen(app: KeyscopeApp): Promise<Listening> {
  const server = createServer(app.yoga);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    graphqlUrl: `${origin}/graphql`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
