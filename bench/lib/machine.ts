/** What machine a benchmark ran on: recorded beside every number in bench/RESULTS.md. */
import os from 'node:os';
import { readFileSync } from 'node:fs';

export interface MachineInfo {
  nproc: number;
  cpuModel: string;
  memTotalGiB: number;
  node: string;
  os: string;
  /** 1-minute load average when the bench started: on a shared machine, numbers taken above nproc are contended */
  loadAvg1m: number;
}

function osPrettyName(): string {
  try {
    const m = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync('/etc/os-release', 'utf8'));
    if (m?.[1]) return m[1];
  } catch {
    // not Linux or no os-release
  }
  return `${os.type()} ${os.release()}`;
}

export function machineInfo(): MachineInfo {
  return {
    nproc: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    memTotalGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    os: osPrettyName(),
    loadAvg1m: Math.round(os.loadavg()[0]! * 10) / 10,
  };
}

export function describeMachine(m: MachineInfo = machineInfo()): string {
  return `${m.nproc} cores (${m.cpuModel}), ${m.memTotalGiB} GiB RAM, Node ${m.node}, ${m.os}; load average ${m.loadAvg1m} at start`;
}
