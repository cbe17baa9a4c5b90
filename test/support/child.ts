// Test support: a server run in its own process (so a test can SIGKILL it), ready once it prints `READY <ports as JSON>`.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export type Child = { process: ChildProcess; ports: Record<string, number>; exited: Promise<number | null> };

/** Runs `node script ...args`; resolves at its READY line, rejects (with its stderr) if it exits first or takes 30 s. */
export function startReadyChild(script: string, args: string[], what: string): Promise<Child> {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start: ${stderr}`)), 30_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!line.startsWith('READY ')) return;
      clearTimeout(timer);
      resolve({ process: child, ports: JSON.parse(line.slice(6)), exited });
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code}: ${stderr}`));
    });
  });
}
