/**
 * What the CLI can fail with, and the exit code of each:
 *   1  the API answered an error, or could not be reached
 *   2  the command line or an input file is wrong (nothing was sent)
 */
export const EXIT_OK = 0;
export const EXIT_API = 1;
export const EXIT_USAGE = 2;

/** A wrong command line, missing token or invalid input file: nothing was sent. */
export class UsageError extends Error {
  readonly exitCode = EXIT_USAGE;
  /** Extra lines (e.g. every problem of a file). */
  readonly lines: string[];
  constructor(message: string, lines: string[] = []) {
    super(message);
    this.name = 'UsageError';
    this.lines = lines;
  }
}

export interface ApiProblem {
  path: string;
  message: string;
}

/** The API answered with an error status. */
export class ApiError extends Error {
  readonly exitCode = EXIT_API;
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: unknown,
    readonly method: string,
    readonly path: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /** The details as `{path, message}` problems, when they are (400s from validation). */
  problems(): ApiProblem[] {
    if (!Array.isArray(this.details)) return [];
    return this.details.filter(
      (d): d is ApiProblem =>
        typeof d === 'object' && d !== null && typeof (d as ApiProblem).path === 'string' && typeof (d as ApiProblem).message === 'string',
    );
  }

  toJSON() {
    return { status: this.status, code: this.code, message: this.message, ...(this.details === undefined ? {} : { details: this.details }) };
  }
}

/** No answer at all: connection refused, DNS, timeout. */
export class ConnectionError extends Error {
  readonly exitCode = EXIT_API;
  constructor(message: string) {
    super(message);
    this.name = 'ConnectionError';
  }
}
