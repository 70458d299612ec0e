import { Command } from 'commander';
import { readFileSync } from 'node:fs';

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** Each component contributes its own subcommands; this file only assembles them. */
export async function main(argv: string[]): Promise<void> {
  const program = new Command('kedge')
    .description('Kubernetes-native cloud-edge platform')
    .version(packageVersion())
    .showHelpAfterError();
  const registrars = await Promise.all([
    import('./commands/server.js'),
    import('./commands/cloud.js'),
    import('./commands/token.js'),
    import('./commands/edge.js'),
    import('./commands/mapper.js'),
  ]);
  for (const r of registrars) r.register(program);
  await program.parseAsync(argv);
}
