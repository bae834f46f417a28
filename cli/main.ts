/** The `warmer` CLI's entry: hands the process's arguments, environment and streams to `run`. */
import { run } from './program.js';

process.exitCode = await run(process.argv.slice(2), {
  env: process.env,
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
});
