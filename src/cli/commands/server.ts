import type { Command } from 'commander';

export function register(program: Command): void {
  program.command('server').description('(not implemented yet)').action(() => {
    throw new Error('kedge server is not implemented yet');
  });
}
