import ssh2 from 'ssh2';
import { startComputeEmulator, type ComputeEmulator, type ComputeEmulatorOptions } from '../../../local/compute/emulator.js';
import { GceCompute, type GceComputeOptions } from '../../../shared/adapters/gce-compute.js';
import { generateEd25519 } from '../../../local/compute/world.js';

const { Client } = ssh2;

export const PROJECT = 'warmer-test';

export interface Harness {
  emulator: ComputeEmulator;
  compute: GceCompute;
  stop(): Promise<void>;
}

/** An emulator with short delays and an adapter on it (the real client, over HTTP). */
export async function harness(options: ComputeEmulatorOptions = {}, adapter: Partial<GceComputeOptions> = {}): Promise<Harness> {
  const emulator = await startComputeEmulator({ bootDelayMs: 50, bootJitterMs: 50, operationDelayMs: 20, waitTimeoutMs: 2000, ...options });
  const compute = new GceCompute({ project: PROJECT, endpoint: emulator.endpoint, ...adapter });
  return {
    emulator,
    compute,
    stop: async () => {
      await compute.close();
      await emulator.stop();
    },
  };
}

export interface TestKey {
  user: string;
  privateKey: string;
  /** `user:ssh-ed25519 AAAA… comment`, as the ssh-keys metadata takes it. */
  entry: string;
}

export function testKey(user: string): TestKey {
  const pair = generateEd25519(`${user}@test`);
  return { user, privateKey: pair.private, entry: `${user}:${pair.public}` };
}

/** Logs in over SSH and runs a command; resolves with stdout and the exit code. */
export function sshExec(
  host: string,
  port: number,
  user: string,
  privateKey: string,
  command = 'cat /etc/warmer/instance.json',
): Promise<{ stdout: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    const timer = setTimeout(() => {
      client.end();
      reject(new Error('ssh timed out'));
    }, 5000);
    client
      .on('ready', () => {
        client.exec(command, (err, stream) => {
          if (err) {
            clearTimeout(timer);
            client.end();
            return reject(err);
          }
          let stdout = '';
          let code: number | null = null;
          stream.on('data', (d: Buffer) => (stdout += d.toString()));
          stream.on('exit', (c: number | null) => (code = c));
          stream.on('close', () => {
            clearTimeout(timer);
            client.end();
            resolve({ stdout, code });
          });
        });
      })
      .on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      })
      .connect({ host, port, username: user, privateKey, readyTimeout: 4000 });
  });
}
