import type { Command } from 'commander';

export function register(program: Command): void {
  program.command('token').description('(not implemented yet)').action(() => {
    throw new Error('kedge token is not implemented yet');
  });
}
