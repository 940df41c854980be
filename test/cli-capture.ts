/** `conveyor ARGS` in this process (the same code as the binary), its output captured and --json output parsed. */
import { runCli } from '../cli/run.ts';

export interface CliResult {
  code: number;
  json: any;
  stdout: string;
  stderr: string;
}

export async function runCliCaptured(env: Record<string, string>, argv: string[]): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, env, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } });
  let json: any;
  try {
    json = JSON.parse(stdout);
  } catch {
    json = undefined;
  }
  return { code, json, stdout, stderr };
}
