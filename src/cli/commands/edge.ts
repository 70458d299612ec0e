import type { Command } from 'commander';

export function register(program: Command): void {
  program.command('edge').description('(not implemented yet)').action(() => {
    throw new Error('kedge edge is not implemented yet');
  });
}
