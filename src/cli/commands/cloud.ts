import type { Command } from 'commander';

export function register(program: Command): void {
  program.command('cloud').description('(not implemented yet)').action(() => {
    throw new Error('kedge cloud is not implemented yet');
  });
}
