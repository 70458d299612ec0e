/** batch/v1 CronJob: upstream's defaults (SetDefaults_CronJob), validation (ValidateCronJob*), table. */
import type { FieldError } from '../../apimachinery/status.js';
import { CronScheduleError, isValidTimeZone, validateSchedule } from '../../common/cron-schedule.js';
import type { ResourceDef } from '../registry.js';
import { validatePodSpec } from '../validation.js';
import { defaultPodSpec } from './pods.js';
import { age, builtin, col, containersImages, selectorString, table, type Obj } from './helpers.js';

/** CronJob names leave room for the 11-character suffix of the Jobs they create (a Job name is a DNS label). */
const MAX_CRONJOB_NAME = 52;

function validateCronJob(o: Obj, isUpdate: boolean, old?: Obj): FieldError[] {
  const errs: FieldError[] = [];
  const name = o.metadata?.name ?? '';
  if (name.length > MAX_CRONJOB_NAME) errs.push({ type: 'Invalid', field: 'metadata.name', value: name, detail: `must be no more than ${MAX_CRONJOB_NAME} characters` });
  const s = (o.spec ?? {}) as Obj;
  const schedule = s.schedule;
  if (schedule === undefined || schedule === '') errs.push({ type: 'Required', field: 'spec.schedule' });
  else if (typeof schedule === 'string') {
    // Only judged when it changes on update, as upstream (a schedule valid under an older parser stays storable).
    if (!isUpdate || schedule !== old?.spec?.schedule) {
      if (/(^|\s)(CRON_)?TZ=/.test(schedule)) {
        errs.push({ type: 'Invalid', field: 'spec.schedule', value: schedule, detail: 'cannot use TZ or CRON_TZ in schedule, use timeZone field instead' });
      } else {
        try { validateSchedule(schedule); } catch (err) {
          if (err instanceof CronScheduleError) errs.push({ type: 'Invalid', field: 'spec.schedule', value: schedule, detail: err.message });
          else throw err;
        }
      }
    }
  }
  if (s.timeZone !== undefined && s.timeZone !== null) {
    const tz = String(s.timeZone);
    if (tz === '' || !isValidTimeZone(tz)) errs.push({ type: 'Invalid', field: 'spec.timeZone', value: tz, detail: tz === '' ? 'timeZone must be nil or non-empty string' : `unknown time zone ${tz}` });
  }
  if (!['Allow', 'Forbid', 'Replace'].includes(s.concurrencyPolicy)) {
    errs.push({ type: 'NotSupported', field: 'spec.concurrencyPolicy', value: s.concurrencyPolicy ?? '', supported: ['Allow', 'Forbid', 'Replace'] });
  }
  for (const f of ['startingDeadlineSeconds', 'successfulJobsHistoryLimit', 'failedJobsHistoryLimit']) {
    const v = s[f];
    if (v !== undefined && v !== null && (!Number.isInteger(v) || v < 0)) errs.push({ type: 'Invalid', field: `spec.${f}`, value: v, detail: 'must be greater than or equal to 0' });
  }
  const job = (s.jobTemplate?.spec ?? {}) as Obj;
  errs.push(...validatePodSpec(job.template?.spec, 'spec.jobTemplate.spec.template.spec'));
  const rp = job.template?.spec?.restartPolicy;
  if (rp !== 'Never' && rp !== 'OnFailure') errs.push({ type: 'NotSupported', field: 'spec.jobTemplate.spec.template.spec.restartPolicy', value: rp ?? '', supported: ['OnFailure', 'Never'] });
  if (job.manualSelector === true) {
    errs.push({ type: 'Invalid', field: 'spec.jobTemplate.spec.manualSelector', value: true, detail: '`selector` not auto-generated' });
  }
  return errs;
}

function lastSchedule(c: Obj, now: number): string {
  const t = c.status?.lastScheduleTime;
  return t ? age({ metadata: { creationTimestamp: t } } as never, now) : '<none>';
}

export const cronJobsDef: ResourceDef = builtin({
  group: 'batch', version: 'v1', resource: 'cronjobs', kind: 'CronJob', singular: 'cronjob', namespaced: true,
  shortNames: ['cj'], categories: ['all'], subresources: ['status'],
  strategy: {
    defaults(obj) {
      const s = ((obj as Obj).spec ??= {}) as Obj;
      s.concurrencyPolicy ??= 'Allow';
      s.suspend ??= false;
      s.successfulJobsHistoryLimit ??= 3;
      s.failedJobsHistoryLimit ??= 1;
      const t = ((s.jobTemplate ??= {}).spec ??= {}) as Obj;
      t.template ??= {};
      t.template.metadata ??= {};
      t.template.spec ??= {};
      defaultPodSpec(t.template.spec);
    },
    prepareForCreate(obj) { (obj as Obj).status = {}; },
    validate: (obj) => validateCronJob(obj as Obj, false),
    validateUpdate: (obj, old) => validateCronJob(obj as Obj, true, old as Obj),
  },
  table: table([col('Schedule'), col('Timezone'), col('Suspend', 'boolean'), col('Active', 'integer'), col('Last Schedule'), col('Age'),
    col('Containers', 'string', 1), col('Images', 'string', 1), col('Selector', 'string', 1)],
  (c, now) => [c.spec?.schedule ?? '', c.spec?.timeZone ?? '<none>', c.spec?.suspend === true, (c.status?.active ?? []).length, lastSchedule(c, now), age(c, now),
    ...containersImages(c.spec?.jobTemplate?.spec?.template?.spec), selectorString(c.spec?.jobTemplate?.spec?.selector)]),
});
