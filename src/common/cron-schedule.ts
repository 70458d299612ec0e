/**
 * CronJob schedules as Kubernetes reads them (robfig/cron's standard parser): five fields, or one of the
 * descriptors (@yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly), evaluated in `spec.timeZone`
 * (an IANA name; the server's local zone when unset, which for Kedge is UTC unless TZ says otherwise).
 * One implementation for the API server's validation and the CronJob controller.
 */
import { CronExpressionParser, type CronExpression } from 'cron-parser';

const DESCRIPTORS: Record<string, string> = {
  '@yearly': '0 0 1 1 *', '@annually': '0 0 1 1 *', '@monthly': '0 0 1 * *', '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *', '@midnight': '0 0 * * *', '@hourly': '0 * * * *',
};

export class CronScheduleError extends Error {}

/** The five-field form of a schedule, or a CronScheduleError with a message close to robfig/cron's. */
function standardFields(schedule: string): string {
  const s = schedule.trim();
  if (!s) throw new CronScheduleError('empty spec string');
  if (s.startsWith('@')) {
    const d = DESCRIPTORS[s];
    if (!d) throw new CronScheduleError(`unrecognized descriptor: ${s}`);
    return d;
  }
  const fields = s.split(/\s+/);
  if (fields.length !== 5) throw new CronScheduleError(`expected exactly 5 fields, found ${fields.length}: ${s}`);
  return fields.join(' ');
}

/** Whether an IANA time zone name is known to this runtime (Go's time.LoadLocation equivalent). */
export function isValidTimeZone(tz: string): boolean {
  if (!tz || tz.toLowerCase() === 'local') return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** robfig/cron's wording for a value out of its field's range, e.g. `end of range (61) above maximum (59): 61`. */
function rangeMessage(fields: string[]): string | undefined {
  const bounds: Array<[number, number]> = [[0, 59], [0, 23], [1, 31], [1, 12], [0, 7]];
  for (const [i, f] of fields.entries()) {
    for (const part of f.split(',')) {
      const [range] = part.split('/');
      if (!range || range === '*' || range === '?') continue;
      const nums = range.split('-').map((x) => (/^\d+$/.test(x) ? Number(x) : undefined));
      const [min, max] = bounds[i]!;
      if (nums[0] !== undefined && nums[0] < min) return `beginning of range (${nums[0]}) below minimum (${min}): ${part}`;
      const end = nums[nums.length - 1];
      if (end !== undefined && end > max) return `end of range (${end}) above maximum (${max}): ${part}`;
    }
  }
  return undefined;
}

/** Throws CronScheduleError when the schedule does not parse. */
export function validateSchedule(schedule: string): void {
  const fields = standardFields(schedule);
  const range = rangeMessage(fields.split(' '));
  if (range) throw new CronScheduleError(range);
  try {
    CronExpressionParser.parse(fields, { tz: 'UTC', strict: false });
  } catch (err) {
    throw new CronScheduleError((err as Error).message);
  }
}

export class CronSchedule {
  private readonly fields: string;
  constructor(schedule: string, private readonly timeZone?: string) {
    this.fields = standardFields(schedule);
    validateSchedule(schedule);
  }

  private iter(from: Date): CronExpression {
    return CronExpressionParser.parse(this.fields, { currentDate: from, tz: this.timeZone || process.env.TZ || 'UTC' });
  }

  /** The first scheduled time strictly after `from`. */
  next(from: Date): Date {
    return this.iter(from).next().toDate();
  }

  /**
   * Scheduled times in (from, to], oldest first, stopping after `limit` + 1 entries (the caller only needs to know
   * "more than limit"), as upstream's mostRecentScheduleTime counts missed starts.
   */
  between(from: Date, to: Date, limit: number): Date[] {
    const out: Date[] = [];
    const it = this.iter(from);
    for (;;) {
      const t = it.next().toDate();
      if (t.getTime() > to.getTime()) break;
      out.push(t);
      if (out.length > limit) break;
    }
    return out;
  }
}
