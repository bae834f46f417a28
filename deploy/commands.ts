/**
 * The commands a deployment is made of, as data: argument vectors (run without a shell),
 * with the small amount of control flow idempotency needs ("create unless it exists",
 * "create or update", "capture an output for later commands", "add a secret version if
 * it changed"). `renderCommand` prints each as one shell-equivalent line for --dry-run;
 * deploy/execute.ts runs them.
 *
 * Arguments may reference a captured value as `${NAME}` (only names captured earlier by a
 * `capture` command); nothing else in an argument is ever interpreted.
 */

export type Argv = readonly string[];

/** Which secret value a `secret-version` command adds (read from env or a file by the CLI). */
export type SecretSource = 'claimTokens' | 'adminTokens' | 'sshKeyPassphrase';

export type Command =
  /** Always runs. `retries`: for IAM calls that race a just-created principal. */
  | { kind: 'run'; argv: Argv; retries?: number; tolerate?: RegExp }
  /** Runs `check`; when it fails (the resource does not exist) runs `create`. */
  | { kind: 'ensure'; check: Argv; create: Argv }
  /** Runs `check`; then `update` if it succeeded, else `create`. */
  | { kind: 'upsert'; check: Argv; create: Argv; update: Argv }
  /** Runs `argv` and keeps its trimmed stdout as `${variable}` for later commands. */
  | { kind: 'capture'; variable: string; argv: Argv }
  /**
   * Makes the latest version of `secret` hold the value from `source`: `access` reads the
   * latest version (compared in memory, never printed); `add` receives the value on stdin
   * when it differs. With no value given, `list` must show an enabled version already.
   */
  | { kind: 'secret-version'; secret: string; source: SecretSource; envName: string; access: Argv; add: Argv; list: Argv };

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
    case 'run':
      return cmd.tolerate ? `${renderArgv(cmd.argv)} || true  # tolerated: ${cmd.tolerate.source}` : renderArgv(cmd.argv);
    case 'ensure':
      return `${renderArgv(cmd.check)} >/dev/null 2>&1 || ${renderArgv(cmd.create)}`;
    case 'upsert':
      return `if ${renderArgv(cmd.check)} >/dev/null 2>&1; then ${renderArgv(cmd.update)}; else ${renderArgv(cmd.create)}; fi`;
    case 'capture':
      return `${cmd.variable}=$(${renderArgv(cmd.argv)})`;
    case 'secret-version':
      return `printf %s ${quoteArg(REDACTED)} | ${renderArgv(cmd.add)}  # value from ${cmd.envName}, added only if it differs from the latest version`;
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

/** Every placeholder a command refers to (for checking a plan's order). */
export function placeholders(cmd: Command): string[] {
  const argvs: Argv[] =
    cmd.kind === 'run' || cmd.kind === 'capture' ? [cmd.argv]
    : cmd.kind === 'ensure' ? [cmd.check, cmd.create]
    : cmd.kind === 'upsert' ? [cmd.check, cmd.create, cmd.update]
    : [cmd.access, cmd.add, cmd.list];
  const names = new Set<string>();
  for (const argv of argvs) for (const a of argv) for (const m of a.matchAll(PLACEHOLDER)) names.add(m[1]!);
  return [...names];
}
