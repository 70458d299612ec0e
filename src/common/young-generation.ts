/**
 * V8's young generation for long-running, lightly allocating processes (`kedge cloud`, the edge agent; issue 19).
 *
 * V8 grows each semi-space of the young generation up to 16 MiB (Node 20, 64-bit) whenever a burst survives
 * scavenges — start-up (module loading, the first lists) is such a burst — and an idle process rarely shrinks it
 * back: measured on an idle `kedge cloud`, new space stayed at 16 MiB of a 32 MiB heap. Capping the semi-space
 * keeps it at 2 MiB; the price is more frequent (cheaper) scavenges under load, which a hub whose
 * messages are small pays little for. An operator's own `--max-semi-space-size` or `--semi-space-growth-factor`
 * (command line or NODE_OPTIONS) wins.
 */
import v8 from 'node:v8';

/**
 * Keeps the young generation at its initial size (1 MiB semi-spaces) unless the operator sized it; true when
 * applied. Call it first thing: it stops growth, it does not shrink a grown new space. `--max-semi-space-size`
 * would say it more directly but V8 reads that only when the heap is set up; the growth factor is read at each
 * resize, so it works from here.
 */
export function pinYoungGeneration(): boolean {
  const flags = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  if (flags.some((f) => f.startsWith('--max-semi-space-size') || f.startsWith('--semi-space-growth-factor'))) return false;
  v8.setFlagsFromString('--semi-space-growth-factor=1');
  return true;
}
