/**
 * The list filter language of Compute Engine, as far as warmer and operators use it:
 *   labels.warmer-pool=ci          labels.warmer-pool = "ci"       status != RUNNING
 *   (labels.a = "x") AND (labels.b = "y")     labels.a:*     name = "ci-*"
 *   expressions joined with AND, OR (or a space, meaning AND), NOT, and parentheses.
 * `=`/`!=` compare whole values (`*` is a wildcard), `:` tests presence (`:*`) or a match,
 * `eq`/`ne` take a regular expression. Anything else is a 400, as on the real API.
 */
import { apiInvalid } from './api-error.js';

type Token = { kind: 'lparen' | 'rparen' } | { kind: 'op'; op: string } | { kind: 'word'; value: string } | { kind: 'string'; value: string };

export type Predicate = (resource: Record<string, unknown>) => boolean;

function tokenize(input: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '(') {
      tokens.push({ kind: 'lparen' });
      i++;
    } else if (c === ')') {
      tokens.push({ kind: 'rparen' });
      i++;
    } else if (c === '!' && input[i + 1] === '=') {
      tokens.push({ kind: 'op', op: '!=' });
      i += 2;
    } else if (c === '=' || c === ':') {
      tokens.push({ kind: 'op', op: c });
      i++;
    } else if (c === '"' || c === "'") {
      let j = i + 1;
      let value = '';
      while (j < input.length && input[j] !== c) {
        if (input[j] === '\\' && j + 1 < input.length) j++;
        value += input[j];
        j++;
      }
      if (j >= input.length) throw apiInvalid(`Invalid value for field 'filter': '${input}'. Unterminated string.`);
      tokens.push({ kind: 'string', value });
      i = j + 1;
    } else {
      let j = i;
      while (j < input.length && !/[\s()=:!"']/.test(input[j]!)) j++;
      if (j === i) throw apiInvalid(`Invalid value for field 'filter': '${input}'.`);
      tokens.push({ kind: 'word', value: input.slice(i, j) });
      i = j;
    }
  }
  return tokens;
}

function fieldValue(resource: Record<string, unknown>, path: string): unknown {
  let current: unknown = resource;
  for (const part of path.split('.')) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

function glob(pattern: string): RegExp {
  return new RegExp(
    '^' +
      pattern
        .split('*')
        .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('.*') +
      '$',
  );
}

function compare(field: string, op: string, value: string): Predicate {
  switch (op) {
    case '=':
    case '!=': {
      const re = value.includes('*') ? glob(value) : null;
      return (r) => {
        const actual = fieldValue(r, field);
        const hit = actual !== undefined && actual !== null && (re ? re.test(String(actual)) : String(actual) === value);
        return op === '=' ? hit : !hit;
      };
    }
    case ':':
      return (r) => {
        const actual = fieldValue(r, field);
        if (actual === undefined || actual === null) return false;
        if (value === '*') return true;
        return glob(value.includes('*') ? value : `*${value}*`).test(String(actual));
      };
    case 'eq':
    case 'ne': {
      const re = new RegExp(`^(?:${value})$`);
      return (r) => {
        const actual = fieldValue(r, field);
        const hit = actual !== undefined && actual !== null && re.test(String(actual));
        return op === 'eq' ? hit : !hit;
      };
    }
    default:
      throw apiInvalid(`Invalid value for field 'filter': unsupported operator '${op}'.`);
  }
}

/** Parses a filter; an empty one matches everything. Throws a 400 `ComputeApiError` when malformed. */
export function parseFilter(input: string | null | undefined): Predicate {
  if (!input || !input.trim()) return () => true;
  const tokens = tokenize(input);
  let pos = 0;
  const bad = (): never => {
    throw apiInvalid(`Invalid value for field 'filter': '${input}'. Invalid list filter expression.`);
  };
  const peekWord = (w: string) => {
    const t = tokens[pos];
    return t?.kind === 'word' && t.value === w;
  };

  const parseOr = (): Predicate => {
    let left = parseAnd();
    while (peekWord('OR')) {
      pos++;
      const right = parseAnd();
      const l = left;
      left = (r) => l(r) || right(r);
    }
    return left;
  };
  const parseAnd = (): Predicate => {
    let left = parseUnary();
    for (;;) {
      if (peekWord('AND')) pos++;
      else {
        const t = tokens[pos];
        if (!t || t.kind === 'rparen' || peekWord('OR')) break;
      }
      const right = parseUnary();
      const l = left;
      left = (r) => l(r) && right(r);
    }
    return left;
  };
  const parseUnary = (): Predicate => {
    if (peekWord('NOT') || (tokens[pos]?.kind === 'word' && (tokens[pos] as { value: string }).value === '-')) {
      pos++;
      const inner = parseUnary();
      return (r) => !inner(r);
    }
    const t = tokens[pos];
    if (!t) return bad();
    if (t.kind === 'lparen') {
      pos++;
      const inner = parseOr();
      if (tokens[pos]?.kind !== 'rparen') bad();
      pos++;
      return inner;
    }
    if (t.kind !== 'word') return bad();
    pos++;
    const opToken = tokens[pos];
    let op: string;
    if (opToken?.kind === 'op') op = opToken.op;
    else if (opToken?.kind === 'word' && (opToken.value === 'eq' || opToken.value === 'ne')) op = opToken.value;
    else return bad();
    pos++;
    const valueToken = tokens[pos];
    if (!valueToken || (valueToken.kind !== 'word' && valueToken.kind !== 'string')) return bad();
    pos++;
    return compare(t.value, op, valueToken.value);
  };

  const predicate = parseOr();
  if (pos !== tokens.length) bad();
  return predicate;
}
