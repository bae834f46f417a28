/** The simulator's minute-by-minute cron matcher answers exactly as `cronMatches`. */
import { describe, expect, it } from 'vitest';
import { cronMatches } from '../../shared/domain/sizing-schedule.js';
import { minuteMatcher } from '../../shared/sim/cron-minutes.js';

const START = Date.UTC(2025, 0, 27, 0, 0, 30); // a Monday; 30 s into the minute
const MINUTE = 60_000;
/**
 * Every minute of a few windows of each day from Wednesday 29 January to Sunday 16 February
 * 2025 (a month's last and first days, weekends, the second Friday), jumping between
 * windows as a simulated clock can.
 */
const WINDOWS: Array<[number, number]> = [
  [0, 70],
  [6 * 60 + 55, 7 * 60 + 10],
  [7 * 60 + 50, 9 * 60 + 10],
  [11 * 60 + 55, 12 * 60 + 5],
  [16 * 60 + 55, 17 * 60 + 20],
  [19 * 60 + 55, 20 * 60 + 5],
];
const minutes: number[] = [];
for (let day = 2; day < 21; day++) for (const [a, b] of WINDOWS) for (let m = a; m < b; m++) minutes.push(START + (day * 24 * 60 + m) * MINUTE);

describe('minuteMatcher', () => {
  it.each([
    ['* * * * *'],
    ['* 7-19 * * 1-5'],
    ['*/15 9-17 * * *'],
    ['0 0 1 * *'],
    ['30 8 * * 1'],
    ['0 12 15 * 5'], // day of month OR day of week
    ['* * * 2 *'],
    ['0 9 * * 0'],
    ['0 9 * * 7'], // Sunday as 7: the iterator
    ['0 12 L * *'], // last day of the month: the iterator
    ['0 8 * * 5#2'], // the second Friday: the iterator
  ])(
    '%s: the same answer as cronMatches minute by minute',
    (cron) => {
      const match = minuteMatcher(cron);
      const diffs: number[] = [];
      let hits = 0;
      for (const t of minutes) {
        const want = cronMatches(cron, t);
        if (match(t) !== want) diffs.push(t);
        if (want) hits++;
      }
      expect(diffs).toEqual([]);
      expect(hits).toBeGreaterThan(0);
    },
    30_000,
  );

  it('a time zone uses the iterator, and an earlier time still answers right', () => {
    const match = minuteMatcher('0 9 * * 1-5', 'Europe/Berlin');
    for (let t = START; t < START + 3 * 24 * 60 * MINUTE; t += 5 * MINUTE) expect(match(t)).toBe(cronMatches('0 9 * * 1-5', t, 'Europe/Berlin'));
    const back = START + 8 * 60 * MINUTE; // Monday 08:00 UTC = 09:00 in Berlin
    expect(match(back)).toBe(true);
    expect(match(back + MINUTE)).toBe(false);
  });
});
