/**
 * A cron expression asked minute after minute, as a simulated clock asks it: the same
 * answers as `cronMatches` (sizing-schedule.ts), without parsing the expression and
 * walking dates on every call. The simulator's GitLab policy asks two expressions once a
 * simulated minute for weeks of minutes; parsing each time was most of its run time.
 *
 * UTC expressions without `L`, `#` or a lone 7 for Sunday are matched on their parsed fields (minute, hour,
 * month, and day of month / day of week with cron's rule: when both are restricted either
 * may match). Others advance one parsed iterator over the asked minutes. The tests check
 * both against `cronMatches` minute by minute.
 */
import { CronExpressionParser, type CronExpression } from 'cron-parser';
import { cronMatches } from '../domain/sizing-schedule.js';

const MINUTE_MS = 60_000;
/** Steps the iterator is advanced before re-parsing from the asked minute instead. */
const MAX_STEPS = 4;

export function minuteMatcher(cron: string, timezone = 'UTC'): (now: number) => boolean {
  return fieldMatcher(cron, timezone) ?? iteratorMatcher(cron, timezone);
}

/** Matching on the parsed fields; null when the expression needs the iterator. */
function fieldMatcher(cron: string, timezone: string): ((now: number) => boolean) | null {
  if (timezone !== 'UTC') return null;
  const f = CronExpressionParser.parse(cron, { tz: timezone }).fields;
  const dows = f.dayOfWeek.values as number[];
  if (f.dayOfMonth.hasLastChar || f.dayOfWeek.hasLastChar || f.dayOfWeek.nthDay > 0 || (dows.includes(7) && !dows.includes(0))) return null;
  if (f.second.values.length !== 1 || f.second.values[0] !== 0) return null;
  const set = (values: readonly (number | string)[], size: number) => {
    const s = new Uint8Array(size);
    for (const v of values) if (typeof v === 'number') s[v] = 1;
    return s;
  };
  const minutes = set(f.minute.values, 60);
  const hours = set(f.hour.values, 24);
  const months = set(f.month.values, 13);
  const doms = set(f.dayOfMonth.values as number[], 32);
  const dowSet = set(dows, 8); // a wildcard lists Sunday as both 0 and 7
  const domRestricted = !f.dayOfMonth.isWildcard;
  const dowRestricted = !f.dayOfWeek.isWildcard;
  return (now) => {
    const d = new Date(Math.floor(now / MINUTE_MS) * MINUTE_MS);
    if (!minutes[d.getUTCMinutes()] || !hours[d.getUTCHours()] || !months[d.getUTCMonth() + 1]) return false;
    const dom = doms[d.getUTCDate()] === 1;
    const dow = dowSet[d.getUTCDay()] === 1;
    if (domRestricted && dowRestricted) return dom || dow;
    if (!dowRestricted) return dom;
    return dow;
  };
}

/** One parsed iterator advanced over non-decreasing times (an earlier time falls back to `cronMatches`). */
function iteratorMatcher(cron: string, timezone: string): (now: number) => boolean {
  let it: CronExpression | null = null;
  /** The first matching minute at or after the last minute asked. */
  let nextAt = -Infinity;
  let lastMinute = -Infinity;
  return (now) => {
    const minute = Math.floor(now / MINUTE_MS) * MINUTE_MS;
    if (minute < lastMinute) return cronMatches(cron, now, timezone);
    lastMinute = minute;
    for (let i = 0; it !== null && nextAt < minute && i < MAX_STEPS; i++) nextAt = it.next().getTime();
    if (nextAt < minute) {
      it = CronExpressionParser.parse(cron, { currentDate: minute - 1, tz: timezone });
      nextAt = it.next().getTime();
    }
    return nextAt === minute;
  };
}
