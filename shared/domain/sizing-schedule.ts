/** Cron floors of a pool's sizing: while a schedule's cron matches the minute, keep at least its minReady. */
import { CronExpressionParser } from 'cron-parser';
import { MINUTE_MS } from './sizing-history.js';

export interface SizingSchedule {
  cron: string;
  minReady: number;
  timezone?: string;
}

/** Whether `now` falls in a minute the cron expression matches. Throws on a bad expression. */
export function cronMatches(cron: string, now: number, timezone = 'UTC'): boolean {
  const minute = Math.floor(now / MINUTE_MS) * MINUTE_MS;
  const it = CronExpressionParser.parse(cron, { currentDate: minute - 1, tz: timezone });
  return it.next().getTime() === minute;
}

/** A problem with a cron expression, or null when it parses. */
export function cronProblem(cron: string, timezone = 'UTC'): string | null {
  try {
    CronExpressionParser.parse(cron, { tz: timezone, currentDate: 0 });
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

export function scheduleFloor(schedules: readonly SizingSchedule[], now: number): number {
  let floor = 0;
  for (const s of schedules) if (s.minReady > floor && cronMatches(s.cron, now, s.timezone)) floor = s.minReady;
  return floor;
}
