/**
 * Pod-IP retention bookkeeping shared with scripts/cni-kedge-ipam.sh: the IPAM wrapper records the
 * address each pod got in `<reservationDir>/<namespace>_<name>_<uid>` and asks host-local for the
 * same address when that pod's sandbox is recreated. The pod manager forgets the reservation when
 * the pod is finally deleted, so the address can go to someone else.
 */
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';

export const DEFAULT_RESERVATION_DIR = '/var/lib/kedge/cni/reservations';

const file = (dir: string, ns: string, name: string, uid: string) => path.join(dir, `${ns}_${name}_${uid}`);

export async function reservedPodIp(dir: string, ns: string, name: string, uid: string): Promise<string | null> {
  try {
    return (await readFile(file(dir, ns, name, uid), 'utf8')).trim() || null;
  } catch {
    return null;
  }
}

export async function releasePodIp(dir: string, ns: string, name: string, uid: string): Promise<void> {
  await rm(file(dir, ns, name, uid), { force: true });
}
