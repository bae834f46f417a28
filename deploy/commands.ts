/**
 * The commands a deployment is made of, as data: argument vectors (run without a shell),
 * with the control flow convergence needs. The central one is `converge`: describe a
 * resource, then create it when it is missing, or compare what exists with the desired
 * settings and run only the updates that close the gap (nothing when it matches). A run
 * therefore brings every resource to the desired settings, and a dry run (which performs
 * only the describes and reads) prints exactly the changes a run would make.
 *
 * Arguments may reference a captured value as `${NAME}` (only names captured earlier by a
 * `capture` command); nothing else in an argument is ever interpreted.
 */

export type Argv = readonly string[];

/** Which secret value a `secret-version` command adds (read from env or a file by the CLI). */
export type SecretSource = 'claimTokens' | 'adminTokens' | 'sshKeyPassphrase';

/** Replaces the `${NAME}` placeholders captured so far (unknown ones stay as they are). */
export type Resolve = (text: string) => string;

export type RunCommand = {
  kind: 'run';
  argv: Argv;
  /** Extra attempts after a failure (IAM calls racing a just-created principal, 409s of index operations). */
  retries?: number;
  /** Retry only when the error output matches (default: any failure is retried). */
  retryOn?: RegExp;
  /** A failure whose error output matches counts as done. */
  tolerate?: RegExp;
  /** Runs at most once per deployment, however many changes ask for it (e.g. the build before the first function deploy). */
  once?: string;
  /** Why it runs (shown after the command: the settings that differ). */
  note?: string;
};

export type Command =
  /** A change: runs in a deployment, is printed by a dry run. */
  | RunCommand
  /**
   * Describes `what` (`describe` with --format=json). Missing (NOT_FOUND, or `exists` says
   * no): runs `create`. Present: runs `update(current)`, the commands that bring it to the
   * desired settings ([] when it already matches).
   */
  | {
      kind: 'converge';
      what: string;
      describe: Argv;
      create: Command[];
      update: (current: any, resolve: Resolve) => Command[];
      /** For list-style describes: whether the answer holds the resource. */
      exists?: (current: any) => boolean;
    }
  /**
   * Runs `argv` and keeps its trimmed stdout as `${variable}` for later commands.
   * `mutates`: the command changes something (a dry run then does not run it, and later
   * commands print `${variable}` as is).
   */
  | { kind: 'capture'; variable: string; argv: Argv; mutates?: boolean }
  /**
   * Makes the latest version of `secret` hold the value from `source`: `access` reads the
   * latest version (compared in memory, never printed); `add` receives the value on stdin
   * when it differs. With no value given, `list` must show an enabled version already.
   */
  | { kind: 'secret-version'; secret: string; source: SecretSource; envName: string; access: Argv; add: Argv; list: Argv }
  /** Stops the deployment with a message saying what to do (e.g. a Datastore-mode database). */
  | { kind: 'fail'; message: string };

export const REDACTED = '<redacted>';

const SAFE = /^[A-Za-z0-9_./:=,@%+-]+$/;
const PLACEHOLDER = /\$\{([A-Z][A-Z0-9_]*)\}/g;
const HAS_PLACEHOLDER = /\$\{[A-Z][A-Z0-9_]*\}/;

/** Quotes one argument for display the way a POSIX shell would need it. */
export function quoteArg(arg: string): string {
  if (arg.length > 0 && SAFE.test(arg)) return arg;
  if (HAS_PLACEHOLDER.test(arg)) {
    // Keep ${NAME} expandable: double quotes, escaping what a shell would expand otherwise.
    return `"${arg.replace(/["\\`]/g, (c) => `\\${c}`).replace(/\$(?!\{[A-Z][A-Z0-9_]*\})/g, '\\$')}"`;
  }
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function renderArgv(argv: Argv): string {
  return argv.map(quoteArg).join(' ');
}

/** One line per command, runnable by a POSIX shell (secrets shown as <redacted>). */
export function renderCommand(cmd: Command): string {
  switch (cmd.kind) {
    case 'run': {
      const line = cmd.tolerate ? `${renderArgv(cmd.argv)} || true  # tolerated: ${cmd.tolerate.source}` : renderArgv(cmd.argv);
      return cmd.note ? `${line}  # ${cmd.note}` : line;
    }
    case 'converge':
      return cmd.create.length > 0
        ? `${renderArgv(cmd.describe)} >/dev/null 2>&1 || ${cmd.create.map(renderCommand).join(' && ')}`
        : `${renderArgv(cmd.describe)}  # ${cmd.what}: updated to the desired settings if it differs`;
    case 'capture':
      return `${cmd.variable}=$(${renderArgv(cmd.argv)})`;
    case 'secret-version':
      return `printf %s ${quoteArg(REDACTED)} | ${renderArgv(cmd.add)}  # value from ${cmd.envName}, added only if it differs from the latest version`;
    case 'fail':
      return `# stop: ${cmd.message}`;
  }
}

/** Replaces `${NAME}` placeholders with captured values; an unknown name is a bug in the plan. */
export function substitute(argv: Argv, vars: ReadonlyMap<string, string>): string[] {
  return argv.map((arg) =>
    arg.replace(PLACEHOLDER, (_m, name: string) => {
      const v = vars.get(name);
      if (v === undefined) throw new Error(`internal: \${${name}} used before it was captured`);
      return v;
    }),
  );
}

/** Like substitute, but leaves unknown placeholders in place (dry runs, comparisons). */
export function resolveText(text: string, vars: ReadonlyMap<string, string>): string {
  return text.replace(PLACEHOLDER, (m, name: string) => vars.get(name) ?? m);
}

export function hasPlaceholder(text: string): boolean {
  return HAS_PLACEHOLDER.test(text);
}

/** Every placeholder a command refers to directly (for checking a plan's order). */
export function placeholders(cmd: Command): string[] {
  const argvs: Argv[] =
    cmd.kind === 'run' || cmd.kind === 'capture'
      ? [cmd.argv]
      : cmd.kind === 'converge'
        ? [cmd.describe, ...cmd.create.flatMap((c) => (c.kind === 'run' ? [c.argv] : []))]
        : cmd.kind === 'secret-version'
          ? [cmd.access, cmd.add, cmd.list]
          : [];
  const names = new Set<string>();
  for (const argv of argvs) for (const a of argv) for (const m of a.matchAll(PLACEHOLDER)) names.add(m[1]!);
  return [...names];
}
