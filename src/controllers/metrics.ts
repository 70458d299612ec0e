import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Controller-manager metrics on a private registry, so several managers (tests) can live in one process. */
export class ControllerMetrics {
  readonly registry = new Registry();
  readonly queueDepth = new Gauge({ name: 'kedge_workqueue_depth', help: 'Keys waiting in a controller work queue', labelNames: ['controller'], registers: [this.registry] });
  readonly reconcileErrors = new Counter({ name: 'kedge_controller_reconcile_errors_total', help: 'Failed reconciles', labelNames: ['controller'], registers: [this.registry] });
  readonly reconcileTotal = new Counter({ name: 'kedge_controller_reconcile_total', help: 'Reconciles run', labelNames: ['controller'], registers: [this.registry] });
  readonly reconcileDuration = new Histogram({
    name: 'kedge_controller_reconcile_duration_seconds',
    help: 'Time spent in one reconcile',
    labelNames: ['controller'],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [this.registry],
  });
  readonly scheduleAttempts = new Counter({ name: 'kedge_scheduler_schedule_attempts_total', help: 'Scheduling attempts by result', labelNames: ['result'], registers: [this.registry] });
  readonly isLeader = new Gauge({ name: 'kedge_leader_election_master_status', help: '1 when this instance leads', labelNames: ['name'], registers: [this.registry] });
}
