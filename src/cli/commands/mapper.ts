import type { Command } from 'commander';

interface MapperFlags {
  dataDir?: string;
  dmiSocket?: string;
  socket?: string;
  name?: string;
}

/**
 * `kedge mapper <protocol>`: a device mapper speaking KubeEdge's DMI, like any third-party mapper. It finds the
 * edge's DMI socket with --dmi-socket, or in the node's --data-dir (DATA_DIR/dmi.sock), else at KubeEdge's
 * /etc/kubeedge/dmi.sock; it serves its own DeviceMapperService on --socket (default beside the DMI socket).
 */
async function runMapper(protocolName: 'virtual' | 'modbus', o: MapperFlags): Promise<void> {
  const path = await import('node:path');
  const { createLogger } = await import('../../common/logger.js');
  const { DMI_SOCKET_FILE, KUBEEDGE_DMI_SOCKET } = await import('../../protocol/dmi/index.js');
  const { Mapper } = await import('../../mapper/mapper.js');
  const protocol = protocolName === 'modbus' ? (await import('../../mapper/drivers/modbus.js')).modbusProtocol : (await import('../../mapper/drivers/virtual.js')).virtualProtocol;
  const dmiSocket = path.resolve(o.dmiSocket ?? (o.dataDir ? path.join(o.dataDir, DMI_SOCKET_FILE) : KUBEEDGE_DMI_SOCKET));
  const socketPath = path.resolve(o.socket ?? path.join(path.dirname(dmiSocket), `mapper-${protocolName}.sock`));
  const log = createLogger(`mapper-${protocolName}`);
  const mapper = new Mapper({ protocol, socketPath, dmiSocket, log, ...(o.name ? { name: o.name } : {}) });
  await mapper.start();
  process.stderr.write(`kedge mapper ${protocolName}: serving ${socketPath}, registering with ${dmiSocket}\n`);
  const stop = async () => {
    await mapper.stop();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
}

export function register(program: Command): void {
  const mapper = program.command('mapper').description('device mappers (KubeEdge DMI): connect devices of one protocol to the edge node');
  for (const [name, what] of [
    ['virtual', 'simulated devices (random, sine, counter values; holds desired values): demos and tests'],
    ['modbus', 'Modbus TCP devices: holding/input registers, coils, discrete inputs'],
  ] as const) {
    mapper
      .command(name)
      .description(what)
      .option('--data-dir <dir>', 'the edge node\'s data dir: its DMI socket is DATA_DIR/dmi.sock')
      .option('--dmi-socket <path>', 'the edge\'s DMI socket (default DATA_DIR/dmi.sock, else /etc/kubeedge/dmi.sock)')
      .option('--socket <path>', `this mapper's own socket (default mapper-${name}.sock beside the DMI socket)`)
      .option('--name <name>', `name it registers with (default kedge-${name}-mapper)`)
      .action((o: MapperFlags) => runMapper(name, o));
  }
}
