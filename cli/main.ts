/**
 * `npx conveyor …`: the operator CLI. Reads the same configuration as the
 * processes (loadConfig; --redis overrides REDIS_URL) and calls the same
 * shared/ core as the API and the board. Exit status: 0 ok, 1 operational
 * failure, 2 usage error, 3 not found (cli/exit-codes.ts).
 */
import { runCli } from './run.ts';

const code = await runCli(process.argv.slice(2), process.env);
process.exitCode = code;
// Everything is closed by now, but a connection that never became ready can
// leave an ioredis timer behind for seconds: a CLI must not linger.
setTimeout(() => process.exit(code), 50).unref();
