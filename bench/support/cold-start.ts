/**
 * bench:claim's cold-start scenario: what a new Cloud Run instance costs its callers.
 *
 * Cloud Run routes no request to a new instance before its container listens on its port
 * (the default TCP startup probe: https://cloud.google.com/run/docs/configuring/healthchecks,
 * "The default TCP startup probe"; https://cloud.google.com/run/docs/container-contract,
 * "Listening for requests on the correct port"): the request that caused the instance
 * waits from the container's start until its port accepts, then for its own answer.
 * So this measures, each against a baseline of the same run:
 *
 *   import        a fresh process loading the compiled entry as functions-framework's CLI
 *                 does, against the same for a functions-framework hello (wall and CPU);
 *                 `bareImport`: a plain `import()` of each, the framework's server not loaded.
 *   firstClaim    the first claim of a fresh process, sent once its port accepts, against
 *                 the claims that follow it on the same process (warm).
 *   spawnToAnswer from spawning the process to the first claim's answer, against spawning
 *                 the hello to its first answer: all a caller of a cold instance waits.
 */
import { startFunction, timeBareImport, timeImport, type FunctionProcess, type ImportTime } from './processes.js';

export interface ColdStartOptions {
  env: Record<string, string>;
  /** One claim from `pool` at `url`; throws unless it is served. */
  claim: (url: string, pool: string) => Promise<void>;
  pool: string;
  /** Fresh processes whose first claims are measured (and import samples of each kind). */
  samples: number;
  /** Claims after the first on each process, the warm baseline. */
  warmClaims: number;
  /** Extra arguments to the claim processes' `node` (e.g. --cpu-prof). */
  nodeArgs?: string[];
}

export interface ColdStartReport {
  importEntryMs: number;
  importHelloMs: number;
  importRatio: number;
  importEntryCpuMs: number;
  importHelloCpuMs: number;
  importCpuRatio: number;
  bareImportEntryMs: number;
  bareImportHelloMs: number;
  bareImportRatio: number;
  bareImportCpuRatio: number;
  firstClaimMs: number;
  warmClaimMs: number;
  firstClaimRatio: number;
  /** The claim process's main-thread CPU time serving its first claim, and a warm one (mean), in ms. */
  firstClaimCpuMs: number;
  warmClaimCpuMs: number;
  firstClaimCpuRatio: number;
  spawnToListenMs: number;
  spawnToFirstAnswerMs: number;
  helloSpawnToFirstAnswerMs: number;
  spawnToFirstAnswerRatio: number;
  /** Main-thread CPU time from spawn to the first answer, of the claim process and of the hello. */
  spawnToFirstAnswerCpuMs: number;
  helloSpawnToFirstAnswerCpuMs: number;
  spawnToFirstAnswerCpuRatio: number;
  samples: { firstClaimMs: number[]; spawnToFirstAnswerMs: number[]; importEntryMs: number[]; importHelloMs: number[] };
}

const round = (n: number) => Math.round(n * 100) / 100;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const HELLO = 'bench/functions/hello.js';
const ENTRY = 'functions/index.js';

/** Runs the scenario; the first claim process is kept running and returned (the caller stops it). */
export async function measureColdStart(o: ColdStartOptions): Promise<{ report: ColdStartReport; kept: FunctionProcess }> {
  // Imports: fresh processes, alternating, so load on the machine hits both alike.
  const imports = { entry: [] as ImportTime[], hello: [] as ImportTime[], bareEntry: [] as ImportTime[], bareHello: [] as ImportTime[] };
  for (let i = 0; i < o.samples; i++) {
    imports.hello.push(timeImport(HELLO, 'hello'));
    imports.entry.push(timeImport(ENTRY, 'claim'));
    imports.bareHello.push(timeBareImport(HELLO));
    imports.bareEntry.push(timeBareImport(ENTRY));
  }
  const wall = (xs: ImportTime[]) => median(xs.map((x) => x.wallMs));
  const cpu = (xs: ImportTime[]) => median(xs.map((x) => x.cpuMs));

  const first: number[] = [];
  const warm: number[] = [];
  const firstCpu: number[] = [];
  const warmCpu: number[] = [];
  const listen: number[] = [];
  const spawnToAnswer: number[] = [];
  const helloSpawnToAnswer: number[] = [];
  const coldCpu: number[] = [];
  const helloCpu: number[] = [];
  let kept: FunctionProcess | null = null;
  for (let i = 0; i < o.samples; i++) {
    const hello = await startFunction(HELLO, 'hello', o.env);
    const answer = await fetch(`${hello.url}/`);
    await answer.text();
    if (answer.status !== 200) throw new Error(`hello answered ${answer.status}`);
    helloSpawnToAnswer.push(performance.now() - hello.spawnedAt);
    helloCpu.push(hello.mainThreadCpuMs());
    await hello.stop();

    const f = await startFunction(ENTRY, 'claim', o.env, o.nodeArgs);
    listen.push(f.listeningAt - f.spawnedAt);
    let t = performance.now();
    let c = f.mainThreadCpuMs();
    await o.claim(f.url, o.pool);
    first.push(performance.now() - t);
    spawnToAnswer.push(performance.now() - f.spawnedAt);
    // What the first claim set going (its refill publish) is left to finish before the warm claims.
    firstCpu.push(f.mainThreadCpuMs() - c);
    coldCpu.push(f.mainThreadCpuMs());
    await sleep(200);
    c = f.mainThreadCpuMs();
    for (let k = 0; k < o.warmClaims; k++) {
      t = performance.now();
      await o.claim(f.url, o.pool);
      warm.push(performance.now() - t);
    }
    warmCpu.push((f.mainThreadCpuMs() - c) / o.warmClaims);
    if (kept === null) kept = f;
    else await f.stop();
  }
  const report: ColdStartReport = {
    importEntryMs: round(wall(imports.entry)),
    importHelloMs: round(wall(imports.hello)),
    importRatio: round(wall(imports.entry) / wall(imports.hello)),
    importEntryCpuMs: round(cpu(imports.entry)),
    importHelloCpuMs: round(cpu(imports.hello)),
    importCpuRatio: round(cpu(imports.entry) / cpu(imports.hello)),
    bareImportEntryMs: round(wall(imports.bareEntry)),
    bareImportHelloMs: round(wall(imports.bareHello)),
    bareImportRatio: round(wall(imports.bareEntry) / wall(imports.bareHello)),
    bareImportCpuRatio: round(cpu(imports.bareEntry) / cpu(imports.bareHello)),
    firstClaimMs: round(median(first)),
    warmClaimMs: round(median(warm)),
    firstClaimRatio: round(median(first) / median(warm)),
    firstClaimCpuMs: round(median(firstCpu)),
    warmClaimCpuMs: round(median(warmCpu)),
    firstClaimCpuRatio: round(median(firstCpu) / median(warmCpu)),
    spawnToListenMs: round(median(listen)),
    spawnToFirstAnswerMs: round(median(spawnToAnswer)),
    helloSpawnToFirstAnswerMs: round(median(helloSpawnToAnswer)),
    spawnToFirstAnswerRatio: round(median(spawnToAnswer) / median(helloSpawnToAnswer)),
    spawnToFirstAnswerCpuMs: round(median(coldCpu)),
    helloSpawnToFirstAnswerCpuMs: round(median(helloCpu)),
    spawnToFirstAnswerCpuRatio: round(median(coldCpu) / median(helloCpu)),
    samples: {
      firstClaimMs: first.map(round),
      spawnToFirstAnswerMs: spawnToAnswer.map(round),
      importEntryMs: imports.entry.map((x) => round(x.wallMs)),
      importHelloMs: imports.hello.map((x) => round(x.wallMs)),
    },
  };
  return { report, kept: kept! };
}
