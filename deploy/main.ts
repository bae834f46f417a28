/** The deploy's entry: hands the process's arguments and environment to `main`. */
import { main } from './deploy.js';

main(process.argv.slice(2), process.env).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`deploy: unexpected error: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
